import { randomUUID } from 'node:crypto';
import { newId } from '../../src/core/database/ids';
import { PresenceStore } from '../../src/realtime/presence/presence-store';
import { signUp, TestUser } from '../support/factories';
import { createTestApp, TestApp } from '../support/test-app';

describe('contacts', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  const add = (owner: TestUser, id: string) => t.http().post(`/api/contacts/${id}`).set(owner.auth);
  const remove = (owner: TestUser, id: string) => t.http().delete(`/api/contacts/${id}`).set(owner.auth);
  const list = async (owner: TestUser) => (await t.http().get('/api/contacts').set(owner.auth).expect(200)).body.data;
  const check = (owner: TestUser, id: string) => t.http().get(`/api/contacts/check/${id}`).set(owner.auth);

  it('adds a contact idempotently and lists it with isMutual false until they add you back', async () => {
    const [owner, contact] = [await signUp(t), await signUp(t)];
    for (let i = 0; i < 2; i++) expect((await add(owner, contact.id).expect(200)).body).toEqual({ success: true, data: { added: true } });
    expect(await t.backend.sql('SELECT 1 FROM contacts WHERE owner_id = $1 AND contact_id = $2', [owner.id, contact.id])).toHaveLength(1);
    expect(await list(owner)).toEqual([
      { id: contact.id, nickname: contact.nickname, firstName: null, lastName: null, avatar: null, isOnline: false, lastOnline: null, isMutual: false },
    ]);
    expect(await list(contact)).toEqual([]);

    await add(contact, owner.id).expect(200);
    expect((await list(owner))[0].isMutual).toBe(true);
    expect((await list(contact))[0]).toMatchObject({ id: owner.id, isMutual: true });
  });

  it('lists contacts alphabetically by nickname, case-insensitively', async () => {
    const tag = randomUUID().replace(/-/g, '').slice(0, 6);
    const owner = await signUp(t);
    const b = await signUp(t, { nickname: `B${tag}x` });
    const a = await signUp(t, { nickname: `a${tag}x` });
    const c = await signUp(t, { nickname: `c${tag}x` });
    for (const u of [c, b, a]) await add(owner, u.id).expect(200);
    expect((await list(owner)).map((x: { id: string }) => x.id)).toEqual([a.id, b.id, c.id]);
  });

  it("shows a contact's presence only as their settings allow", async () => {
    const [owner, contact] = [await signUp(t), await signUp(t)];
    await add(owner, contact.id).expect(200);
    await t.app.get(PresenceStore).connect(contact.id, randomUUID(), 60_000);
    expect((await list(owner))[0].isOnline).toBe(true);

    await t.http().put('/api/users/me/settings').set(contact.auth).send({ showOnlineStatus: 'contacts' }).expect(200);
    expect((await list(owner))[0].isOnline).toBe(false);
    await add(contact, owner.id).expect(200);
    expect((await list(owner))[0].isOnline).toBe(true);

    await t.http().put('/api/users/me/settings').set(contact.auth).send({ showOnlineStatus: false }).expect(200);
    expect((await list(owner))[0]).toMatchObject({ isOnline: false, lastOnline: null });
  });

  it('removes a contact idempotently', async () => {
    const [owner, contact] = [await signUp(t), await signUp(t)];
    await add(owner, contact.id).expect(200);
    for (let i = 0; i < 2; i++) expect((await remove(owner, contact.id).expect(200)).body).toEqual({ success: true, data: { removed: true } });
    expect(await list(owner)).toEqual([]);
  });

  it('checks whether a user is a contact and whether the relation is mutual', async () => {
    const [owner, other] = [await signUp(t), await signUp(t)];
    expect((await check(owner, other.id).expect(200)).body.data).toEqual({ isContact: false, isMutual: false });
    await add(other, owner.id).expect(200);
    expect((await check(owner, other.id).expect(200)).body.data).toEqual({ isContact: false, isMutual: false });
    await add(owner, other.id).expect(200);
    expect((await check(owner, other.id).expect(200)).body.data).toEqual({ isContact: true, isMutual: true });
    expect((await check(owner, owner.id).expect(200)).body.data).toEqual({ isContact: false, isMutual: false });
  });

  it('answers USER_NOT_FOUND for unknown or malformed ids and CANNOT_TARGET_SELF for yourself', async () => {
    const owner = await signUp(t);
    for (const id of [newId(), 'nope']) {
      expect((await add(owner, id).expect(404)).body.code).toBe('USER_NOT_FOUND');
      expect((await remove(owner, id).expect(404)).body.code).toBe('USER_NOT_FOUND');
      expect((await check(owner, id).expect(404)).body.code).toBe('USER_NOT_FOUND');
    }
    expect((await add(owner, owner.id).expect(422)).body.code).toBe('CANNOT_TARGET_SELF');
    expect((await remove(owner, owner.id).expect(422)).body.code).toBe('CANNOT_TARGET_SELF');
  });

  it('requires a session', async () => {
    await t.http().get('/api/contacts').expect(401);
  });
});
