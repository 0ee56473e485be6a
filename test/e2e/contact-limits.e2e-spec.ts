import { signUp, TestUser } from '../support/factories';
import { createTestApp, TestApp } from '../support/test-app';

/**
 * CONTACTS_MAX and BLOCKS_MAX: anyone can add or block any user without their consent, and the
 * lists are answered whole, so each is capped per user (small caps here; README "Limits" has the
 * defaults). Adds racing each other are counted one after another.
 */
describe('contact and block caps', () => {
  const MAX = 3;
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp({ env: { CONTACTS_MAX: String(MAX), BLOCKS_MAX: String(MAX) } })));
  afterAll(() => t.close());

  const users = async (n: number) => Promise.all(Array.from({ length: n }, () => signUp(t)));

  const cases = [
    {
      what: 'contacts',
      code: 'CONTACTS_LIMIT',
      add: (owner: TestUser, id: string) => t.http().post(`/api/contacts/${id}`).set(owner.auth),
      remove: (owner: TestUser, id: string) => t.http().delete(`/api/contacts/${id}`).set(owner.auth),
      stored: async (owner: TestUser) =>
        (await t.backend.sql<{ id: string }>('SELECT contact_id AS id FROM contacts WHERE owner_id = $1', [owner.id])).map((r) => r.id).sort(),
      listed: async (owner: TestUser) => (await t.http().get('/api/contacts').set(owner.auth).expect(200)).body.data.length,
    },
    {
      what: 'blocks',
      code: 'BLOCKS_LIMIT',
      add: (owner: TestUser, id: string) => t.http().post(`/api/users/${id}/block`).set(owner.auth),
      remove: (owner: TestUser, id: string) => t.http().delete(`/api/users/${id}/block`).set(owner.auth),
      stored: async (owner: TestUser) =>
        (await t.backend.sql<{ id: string }>('SELECT blocked_id AS id FROM blocks WHERE blocker_id = $1', [owner.id])).map((r) => r.id).sort(),
      listed: async (owner: TestUser) => (await t.http().get('/api/users/me/blocked?full=1').set(owner.auth).expect(200)).body.data.length,
    },
  ];

  for (const c of cases) {
    it(`${c.what}: adds racing past the cap store exactly ${MAX}, the others answer 400 ${c.code} and store nothing; a repeat at the cap still answers 200`, async () => {
      const [owner, ...targets] = await users(MAX + 4);
      const answers = await Promise.all(targets.map((u) => c.add(owner, u.id)));
      expect(answers.map((r) => r.status).sort()).toEqual([...Array(MAX).fill(200), ...Array(targets.length - MAX).fill(400)]);
      for (const refused of answers.filter((r) => r.status === 400)) expect(refused.body).toMatchObject({ success: false, code: c.code });
      const kept = targets.filter((_, i) => answers[i].status === 200).map((u) => u.id);
      expect(await c.stored(owner)).toEqual([...kept].sort());
      expect(await c.listed(owner)).toBe(MAX);

      // At the cap: one stored already is idempotent, a new one is refused.
      await c.add(owner, kept[0]).expect(200);
      const other = targets.find((u) => !kept.includes(u.id))!;
      expect((await c.add(owner, other.id).expect(400)).body.code).toBe(c.code);
      expect(await c.stored(owner)).toEqual([...kept].sort());

      // Removing one makes room; another user's cap is their own.
      await c.remove(owner, kept[0]).expect(200);
      await c.add(owner, other.id).expect(200);
      expect(await c.stored(owner)).toEqual([...kept.slice(1), other.id].sort());
      await c.add(targets[0], owner.id).expect(200);
    });
  }
});
