import { createHash } from 'node:crypto';
import { signUp, TestUser } from '../support/factories';
import { connect, createGroup, fillGroup, openDirect } from '../support/chats';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../support/env';
import { createTestApp, TestApp, twoInstances } from '../support/test-app';
import { LapsedInviteLinks } from '../../src/chats/lapsed-invite-links';
import { ChatsRepository } from '../../src/chats/chats.repository';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const CODE = /^[A-Za-z0-9_-]{22}$/;
const digest = (code: string) => createHash('sha256').update(code).digest();

/**
 * wire-contract-v2.2 §6: invite links of groups. The OWNER and ADMINs create, list and revoke
 * them; any signed-in user previews and joins; limits hold under concurrent joins.
 */
describe('invite links (v2.2 §6)', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  const users = async (n: number): Promise<TestUser[]> => Promise.all(Array.from({ length: n }, () => signUp(t)));
  const createLink = (user: TestUser, chatId: string, body: unknown = {}) => t.http().post(`/api/chats/${chatId}/invite`).set(user.auth).send(body as object);
  const listLinks = (user: TestUser, chatId: string) => t.http().get(`/api/chats/${chatId}/invite`).set(user.auth);
  const revoke = (user: TestUser, linkId: string) => t.http().delete(`/api/chats/invite/${linkId}`).set(user.auth);
  const preview = (user: TestUser, code: string) => t.http().get(`/api/chats/join/${code}`).set(user.auth);
  const join = (user: TestUser, code: string) => t.http().post(`/api/chats/join/${code}`).set(user.auth);
  const linkRow = async (id: string) => (await t.backend.sql('SELECT * FROM invite_links WHERE id = $1', [id]))[0];
  const memberIdsOf = async (chatId: string) =>
    (await t.backend.sql<{ user_id: string }>('SELECT user_id FROM chat_members WHERE chat_id = $1', [chatId])).map((r) => r.user_id).sort();
  const makeAdmin = (chatId: string, user: TestUser) => t.backend.sql(`UPDATE chat_members SET role = 'ADMIN' WHERE chat_id = $1 AND user_id = $2`, [chatId, user.id]);
  /** A group of owner, an ADMIN and a MEMBER. */
  async function group(): Promise<{ chatId: string; owner: TestUser; admin: TestUser; member: TestUser; stranger: TestUser }> {
    const [owner, admin, member, stranger] = await users(4);
    const chatId = await createGroup(t, owner, [admin, member], 'Invites');
    await makeAdmin(chatId, admin);
    return { chatId, owner, admin, member, stranger };
  }
  const expectError = (res: { status: number; body: any }, status: number, code: string) => {
    expect({ status: res.status, success: res.body.success, code: res.body.code }).toEqual({ status, success: false, code });
  };

  describe('POST /api/chats/:id/invite', () => {
    it('gives the OWNER and an ADMIN a new InviteLink each call, stored with the hash of its code', async () => {
      const { chatId, owner, admin } = await group();
      const res = await createLink(owner, chatId, {}).expect(201);
      expect(res.body).toEqual({
        success: true,
        data: { id: expect.any(String), code: expect.stringMatching(CODE), expiresAt: null, maxUses: null, uses: 0, createdAt: expect.stringMatching(ISO) },
      });
      const byAdmin = (await createLink(admin, chatId, { expiresInHours: 2, maxUses: 3 }).expect(201)).body.data;
      expect(byAdmin.code).not.toBe(res.body.data.code);
      expect(byAdmin.maxUses).toBe(3);
      const hours = (Date.parse(byAdmin.expiresAt) - Date.parse(byAdmin.createdAt)) / 3_600_000;
      expect(hours).toBeCloseTo(2, 3);
      const row = await linkRow(res.body.data.id);
      expect(row).toMatchObject({ chat_id: chatId, created_by: owner.id, uses: 0, max_uses: null, expires_at: null, revoked_at: null });
      expect(Buffer.from(row.code_hash).equals(digest(res.body.data.code))).toBe(true);
    });

    it('accepts null limits, and refuses limits out of range with 422', async () => {
      const { chatId, owner } = await group();
      expect((await createLink(owner, chatId, { expiresInHours: null, maxUses: null }).expect(201)).body.data).toMatchObject({ expiresAt: null, maxUses: null });
      for (const body of [{ expiresInHours: 0 }, { expiresInHours: 8761 }, { expiresInHours: 1.5 }, { maxUses: 0 }, { maxUses: 100001 }, { maxUses: '5' }, { other: 1 }]) {
        expectError(await createLink(owner, chatId, body), 422, 'VALIDATION_ERROR');
      }
    });

    it('refuses a MEMBER (403), a stranger (404) and a direct chat (NOT_A_GROUP)', async () => {
      const { chatId, owner, member, stranger } = await group();
      expectError(await createLink(member, chatId), 403, 'FORBIDDEN');
      expectError(await createLink(stranger, chatId), 404, 'CHAT_NOT_FOUND');
      expectError(await createLink(owner, 'not-a-uuid'), 404, 'CHAT_NOT_FOUND');
      const direct = await openDirect(t, owner, member);
      expectError(await createLink(owner, direct), 400, 'NOT_A_GROUP');
    });

    /** The ids of 20 links made with {} (as the web client makes them), oldest first. */
    const twenty = async (owner: TestUser, chatId: string) => {
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) ids.push((await createLink(owner, chatId).expect(201)).body.data.id);
      return ids;
    };

    it('at 20 active links, makes room by revoking the oldest one never used: the 21st click still gets a link', async () => {
      const { chatId, owner, stranger } = await group();
      const ids = await twenty(owner, chatId);
      const oldest = (await linkRow(ids[0])).code as string;
      // The oldest link was used once: the oldest unused one goes instead.
      await t.backend.sql('UPDATE invite_links SET uses = 1 WHERE id = $1', [ids[0]]);
      const added = (await createLink(owner, chatId).expect(201)).body.data;
      const listed = (await listLinks(owner, chatId).expect(200)).body.data.map((l: { id: string }) => l.id);
      expect(listed).toEqual([added.id, ...ids.filter((id) => id !== ids[1]).reverse()]);
      expect((await linkRow(ids[1])).revoked_at).not.toBeNull();
      expectError(await join(stranger, (await linkRow(ids[1])).code), 404, 'INVITE_NOT_FOUND');
      // Again: the next oldest unused goes.
      await createLink(owner, chatId).expect(201);
      expect((await listLinks(owner, chatId).expect(200)).body.data).toHaveLength(20);
      expect((await linkRow(ids[2])).revoked_at).not.toBeNull();
      await join(stranger, oldest).expect(200);
    });

    it('answers INVITE_LINK_LIMIT when all 20 active links have been used; a revoked link no longer counts', async () => {
      const { chatId, owner } = await group();
      await twenty(owner, chatId);
      await t.backend.sql('UPDATE invite_links SET uses = 1 WHERE chat_id = $1', [chatId]);
      expectError(await createLink(owner, chatId), 400, 'INVITE_LINK_LIMIT');
      expect((await listLinks(owner, chatId).expect(200)).body.data).toHaveLength(20);
      const [{ id }] = await t.backend.sql('SELECT id FROM invite_links WHERE chat_id = $1 LIMIT 1', [chatId]);
      await revoke(owner, id).expect(200);
      await createLink(owner, chatId).expect(201);
      expect(await t.backend.sql('SELECT count(*)::int AS n FROM invite_links WHERE chat_id = $1', [chatId])).toEqual([{ n: 21 }]);
    });

    it('counts only active links toward the 20: a used-up one leaves room, so the next creation revokes nothing', async () => {
      const { chatId, owner, stranger } = await group();
      const spent = (await createLink(owner, chatId, { maxUses: 1 }).expect(201)).body.data;
      for (let i = 0; i < 19; i++) await createLink(owner, chatId).expect(201);
      await join(stranger, spent.code).expect(200);
      const added = (await createLink(owner, chatId).expect(201)).body.data;
      expect(await t.backend.sql('SELECT id FROM invite_links WHERE chat_id = $1 AND revoked_at IS NOT NULL', [chatId])).toEqual([]);
      const listed = (await listLinks(owner, chatId).expect(200)).body.data.map((l: { id: string }) => l.id);
      expect(listed).toHaveLength(20);
      expect(listed[0]).toBe(added.id);
      expect(listed).not.toContain(spent.id);
    });

    it('creations at the limit at once each revoke one: 20 active links after them', async () => {
      const { chatId, owner } = await group();
      await twenty(owner, chatId);
      const results = await Promise.all(Array.from({ length: 5 }, () => createLink(owner, chatId)));
      expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201, 201]);
      expect((await listLinks(owner, chatId).expect(200)).body.data).toHaveLength(20);
    });
  });

  describe('GET /api/chats/:id/invite', () => {
    it('lists the active links only, newest first, to the OWNER and ADMINs', async () => {
      const { chatId, owner, admin, member, stranger } = await group();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await createLink(owner, chatId, { maxUses: 1 }).expect(201)).body.data.id);
      await t.backend.sql(`UPDATE invite_links SET expires_at = now() - interval '1 second' WHERE id = $1`, [ids[0]]);
      await t.backend.sql(`UPDATE invite_links SET uses = 1 WHERE id = $1`, [ids[1]]);
      await revoke(owner, ids[2]).expect(200);
      const res = await listLinks(admin, chatId).expect(200);
      expect(res.body.data.map((l: { id: string }) => l.id)).toEqual([ids[4], ids[3]]);
      expect(res.body.data[0]).toEqual({ id: ids[4], code: expect.stringMatching(CODE), expiresAt: null, maxUses: 1, uses: 0, createdAt: expect.stringMatching(ISO) });
      expect((await listLinks(owner, chatId).expect(200)).body.data).toEqual(res.body.data);
      expectError(await listLinks(member, chatId), 403, 'FORBIDDEN');
      expectError(await listLinks(stranger, chatId), 404, 'CHAT_NOT_FOUND');
    });
  });

  describe('DELETE /api/chats/invite/:linkId', () => {
    it('revokes for the OWNER or an ADMIN (a repeat answers the same); the code then answers 404', async () => {
      const { chatId, owner, admin, stranger } = await group();
      const link = (await createLink(owner, chatId).expect(201)).body.data;
      expect((await revoke(admin, link.id).expect(200)).body).toEqual({ success: true, data: { revoked: true } });
      const revokedAt = (await linkRow(link.id)).revoked_at;
      expect(revokedAt).not.toBeNull();
      await revoke(owner, link.id).expect(200);
      expect((await linkRow(link.id)).revoked_at).toEqual(revokedAt);
      expectError(await preview(stranger, link.code), 404, 'INVITE_NOT_FOUND');
      expectError(await join(stranger, link.code), 404, 'INVITE_NOT_FOUND');
      expect(await memberIdsOf(chatId)).not.toContain(stranger.id);
    });

    it('refuses a MEMBER (403) and hides the link from strangers and unknown ids (404)', async () => {
      const { chatId, owner, member, stranger } = await group();
      const link = (await createLink(owner, chatId).expect(201)).body.data;
      expectError(await revoke(member, link.id), 403, 'FORBIDDEN');
      expectError(await revoke(stranger, link.id), 404, 'INVITE_NOT_FOUND');
      expectError(await revoke(owner, '0190a1b2-0000-7000-8000-000000000000'), 404, 'INVITE_NOT_FOUND');
      expectError(await revoke(owner, 'draft'), 404, 'INVITE_NOT_FOUND');
      expect((await linkRow(link.id)).revoked_at).toBeNull();
    });
  });

  it('deletes links out of use for 30 days (revoked, expired, used up) and keeps the rest', async () => {
    const { chatId, owner } = await group();
    const make = async (body: object = {}) => (await createLink(owner, chatId, body).expect(201)).body.data.id as string;
    const [revokedLong, revokedLately, expiredLong, usedUpLong, usedUpLately, active] = [await make(), await make(), await make(), await make({ maxUses: 1 }), await make({ maxUses: 1 }), await make()];
    const set = (id: string, assignments: string) => t.backend.sql(`UPDATE invite_links SET ${assignments} WHERE id = $1`, [id]);
    await set(revokedLong, `revoked_at = now() - interval '31 days'`);
    await set(revokedLately, `revoked_at = now() - interval '29 days'`);
    await set(expiredLong, `expires_at = now() - interval '31 days'`);
    await set(usedUpLong, `uses = 1, created_at = now() - interval '31 days'`);
    await set(usedUpLately, `uses = 1, created_at = now() - interval '29 days'`);
    expect(await t.app.get(LapsedInviteLinks).run()).toBeGreaterThanOrEqual(3);
    const left = (await t.backend.sql<{ id: string }>('SELECT id FROM invite_links WHERE chat_id = $1', [chatId])).map((r) => r.id).sort();
    expect(left).toEqual([revokedLately, usedUpLately, active].sort());
  });

  describe('GET /api/chats/join/:code', () => {
    it('shows any signed-in user the group, and refuses unknown, malformed and expired codes', async () => {
      const { chatId, owner, stranger } = await group();
      const link = (await createLink(owner, chatId).expect(201)).body.data;
      expect((await preview(stranger, link.code).expect(200)).body).toEqual({
        success: true,
        data: { code: link.code, chat: { id: chatId, name: 'Invites', avatar: null, description: null, _count: { members: 3 } } },
      });
      expectError(await t.http().get(`/api/chats/join/${link.code}`), 401, 'UNAUTHORIZED');
      expectError(await preview(stranger, 'A'.repeat(22)), 404, 'INVITE_NOT_FOUND');
      for (const bad of ['short', `${link.code}x`, `${link.code.slice(0, 21)}%2B`, 'messages']) expectError(await preview(stranger, bad), 404, 'INVITE_NOT_FOUND');
      await t.backend.sql(`UPDATE invite_links SET expires_at = now() - interval '1 second' WHERE id = $1`, [link.id]);
      expectError(await preview(stranger, link.code), 410, 'INVITE_EXPIRED');
    });
  });

  describe('POST /api/chats/join/:code', () => {
    it('adds the caller as MEMBER and counts a use; members get chat:updated, the joiner chat:new', async () => {
      const { chatId, owner, admin, member } = await group();
      const [joiner] = await users(1);
      const link = (await createLink(owner, chatId, { maxUses: 5 }).expect(201)).body.data;
      const [ownerWs, adminWs, memberWs, joinerWs] = await Promise.all([connect(t, owner), connect(t, admin), connect(t, member), connect(t, joiner)]);
      try {
        const res = await join(joiner, link.code).expect(200);
        expect(res.body.success).toBe(true);
        expect(res.body.data).toMatchObject({ id: chatId, type: 'GROUP', name: 'Invites' });
        expect(res.body.data.members.map((m: { userId: string }) => m.userId).sort()).toEqual([owner.id, admin.id, member.id, joiner.id].sort());
        expect(res.body.data.members.find((m: { userId: string }) => m.userId === joiner.id).role).toBe('MEMBER');
        expect(await memberIdsOf(chatId)).toEqual([owner.id, admin.id, member.id, joiner.id].sort());
        expect((await linkRow(link.id)).uses).toBe(1);
        for (const ws of [ownerWs, adminWs, memberWs]) {
          const updated = await ws.waitFor('chat:updated', (c) => c.id === chatId);
          expect(updated.members.map((m: { userId: string }) => m.userId)).toContain(joiner.id);
        }
        await joinerWs.expectNo('chat:updated', (c) => c.id === chatId);
        const created = await joinerWs.waitFor('chat:new', (c) => c.id === chatId);
        expect(created.members.map((m: { userId: string }) => m.userId)).toContain(joiner.id);
        // The joiner can now open the chat like any member.
        const chat = (await t.http().get(`/api/chats/${chatId}`).set(joiner.auth).expect(200)).body.data;
        expect(chat.id).toBe(chatId);

        // Joining again: the chat, no use counted, nobody told again.
        const again = await join(joiner, link.code).expect(200);
        expect(again.body.data.id).toBe(chatId);
        expect((await linkRow(link.id)).uses).toBe(1);
        await ownerWs.expectNo('chat:updated', (c) => c.id === chatId);
        // A member joining by link counts no use either.
        await join(member, link.code).expect(200);
        expect((await linkRow(link.id)).uses).toBe(1);
      } finally {
        for (const ws of [ownerWs, adminWs, memberWs, joinerWs]) ws.close();
      }
    });

    it('answers 410 for an expired or used-up link, and takes an empty JSON body', async () => {
      const { chatId, owner } = await group();
      const [first, second, third] = await users(3);
      const once = (await createLink(owner, chatId, { maxUses: 1 }).expect(201)).body.data;
      await t.http().post(`/api/chats/join/${once.code}`).set(first.auth).set('Content-Type', 'application/json').expect(200);
      expectError(await join(second, once.code), 410, 'INVITE_EXPIRED');
      expectError(await preview(second, once.code), 410, 'INVITE_EXPIRED');
      const expiring = (await createLink(owner, chatId, { expiresInHours: 1 }).expect(201)).body.data;
      await t.backend.sql(`UPDATE invite_links SET expires_at = now() - interval '1 second' WHERE id = $1`, [expiring.id]);
      expectError(await join(third, expiring.code), 410, 'INVITE_EXPIRED');
      expect(await memberIdsOf(chatId)).not.toEqual(expect.arrayContaining([second.id]));
      expect(await memberIdsOf(chatId)).not.toContain(third.id);
      expect((await linkRow(once.id)).uses).toBe(1);
      expect((await linkRow(expiring.id)).uses).toBe(0);
    });

    it('answers 404 for unknown, malformed, revoked codes and deleted groups', async () => {
      const [owner, joiner] = await users(2);
      const chatId = await createGroup(t, owner, [], 'Alone');
      const link = (await createLink(owner, chatId).expect(201)).body.data;
      expectError(await join(joiner, 'B'.repeat(22)), 404, 'INVITE_NOT_FOUND');
      expectError(await join(joiner, 'not*a*code'), 404, 'INVITE_NOT_FOUND');
      await t.http().delete(`/api/chats/${chatId}/leave`).set(owner.auth).expect(200);
      expect(await t.backend.sql('SELECT id FROM chats WHERE id = $1', [chatId])).toEqual([]);
      expectError(await join(joiner, link.code), 404, 'INVITE_NOT_FOUND');
      expectError(await preview(joiner, link.code), 404, 'INVITE_NOT_FOUND');
    });

    it('answers UNAUTHORIZED, not a 500, when the joiner\'s account is deleted while the join is on its way', async () => {
      const [owner, joiner] = await users(2);
      const chatId = await createGroup(t, owner, [], 'Race');
      const link = (await createLink(owner, chatId).expect(201)).body.data;
      const repository = t.app.get(ChatsRepository);
      const addMembers = repository.addMembers.bind(repository);
      // The account goes (as DELETE /api/users/me would take it) after the session was checked, before the insert;
      // through the join's own transaction, as the embedded database has one connection, which the join holds.
      const spy = jest.spyOn(repository, 'addMembers').mockImplementationOnce(async (...args: Parameters<ChatsRepository['addMembers']>) => {
        await args[0].query('DELETE FROM users WHERE id = $1', [joiner.id]);
        return addMembers(...args);
      });
      try {
        expectError(await join(joiner, link.code), 401, 'UNAUTHORIZED');
      } finally {
        spy.mockRestore();
      }
      expect(await memberIdsOf(chatId)).toEqual([owner.id]);
      expect((await linkRow(link.id)).uses).toBe(0);
    });

    it('answers NOT_A_GROUP for a link that leads to a direct chat', async () => {
      const [a, b, joiner] = await users(3);
      const direct = await openDirect(t, a, b);
      const code = 'D'.repeat(21) + 'x';
      await t.backend.sql(`INSERT INTO invite_links (id, chat_id, code, code_hash) VALUES (gen_random_uuid(), $1, $2, $3)`, [direct, code, digest(code)]);
      expectError(await join(joiner, code), 400, 'NOT_A_GROUP');
      expect(await memberIdsOf(direct)).not.toContain(joiner.id);
    });

    it('answers GROUP_LIMIT_EXCEEDED when the group already has 200 members', async () => {
      const { chatId, owner } = await group();
      const [joiner] = await users(1);
      await fillGroup(t, chatId, 197);
      const link = (await createLink(owner, chatId).expect(201)).body.data;
      expectError(await join(joiner, link.code), 400, 'GROUP_LIMIT_EXCEEDED');
      expect((await memberIdsOf(chatId)).length).toBe(200);
      expect((await linkRow(link.id)).uses).toBe(0);
    });
  });

  describe('a member removed by a manager', () => {
    const remove = (by: TestUser, chatId: string, user: TestUser) => t.http().delete(`/api/chats/${chatId}/members/${user.id}`).set(by.auth).expect(200);
    const addBack = (by: TestUser, chatId: string, user: TestUser) => t.http().post(`/api/chats/${chatId}/members`).set(by.auth).send({ userIds: [user.id] }).expect(200);
    const removals = (chatId: string) => t.backend.sql<{ user_id: string }>('SELECT user_id FROM chat_removals WHERE chat_id = $1', [chatId]);

    it('cannot preview or rejoin by link (FORBIDDEN, nobody told) until a manager adds them back; after that, links work for them again', async () => {
      const { chatId, owner, admin, member } = await group();
      const link = (await createLink(owner, chatId).expect(201)).body.data;
      const ownerWs = await connect(t, owner);
      try {
        await remove(admin, chatId, member);
        await ownerWs.waitFor('chat:updated', (c) => c.id === chatId);
        for (const refused of [await preview(member, link.code), await join(member, link.code)]) {
          expectError(refused, 403, 'FORBIDDEN');
          expect(refused.body.message).toBe('You were removed from this group; an admin can add you back');
        }
        expect(await memberIdsOf(chatId)).not.toContain(member.id);
        expect((await linkRow(link.id)).uses).toBe(0);
        await ownerWs.expectNo('chat:updated', (c) => c.id === chatId);

        // Added back on purpose: a member again, and the removal is forgotten.
        await addBack(admin, chatId, member);
        expect(await memberIdsOf(chatId)).toContain(member.id);
        expect(await removals(chatId)).toEqual([]);
        expect((await preview(member, link.code).expect(200)).body.data.chat.id).toBe(chatId);
        // Then they leave on their own, and a link takes them back in.
        await t.http().delete(`/api/chats/${chatId}/leave`).set(member.auth).expect(200);
        await join(member, link.code).expect(200);
        expect(await memberIdsOf(chatId)).toContain(member.id);
        expect((await linkRow(link.id)).uses).toBe(1);
      } finally {
        ownerWs.close();
      }
    });

    it('a member who left on their own rejoins by link', async () => {
      const { chatId, owner, member } = await group();
      const link = (await createLink(owner, chatId).expect(201)).body.data;
      await t.http().delete(`/api/chats/${chatId}/leave`).set(member.auth).expect(200);
      expect(await removals(chatId)).toEqual([]);
      await join(member, link.code).expect(200);
      expect(await memberIdsOf(chatId)).toContain(member.id);
    });

    it('a member whose removal row outlived their re-admission (an older release re-added them) leaves it behind when they leave', async () => {
      const { chatId, owner, member } = await group();
      const link = (await createLink(owner, chatId).expect(201)).body.data;
      await t.backend.sql('INSERT INTO chat_removals (chat_id, user_id) VALUES ($1, $2)', [chatId, member.id]);
      // A member still: the preview answers them as it answers any member.
      await preview(member, link.code).expect(200);
      await t.http().delete(`/api/chats/${chatId}/leave`).set(member.auth).expect(200);
      expect(await removals(chatId)).toEqual([]);
      await join(member, link.code).expect(200);
      expect(await memberIdsOf(chatId)).toContain(member.id);
    });

    it('the record goes with the removed account and with the group', async () => {
      const { chatId, owner, admin, member } = await group();
      await remove(owner, chatId, member);
      await remove(owner, chatId, admin);
      expect((await removals(chatId)).map((r) => r.user_id).sort()).toEqual([admin.id, member.id].sort());
      await t.backend.sql('DELETE FROM users WHERE id = $1', [member.id]);
      expect(await removals(chatId)).toEqual([{ user_id: admin.id }]);
      await t.http().delete(`/api/chats/${chatId}`).set(owner.auth).expect(200);
      expect(await removals(chatId)).toEqual([]);
    });
  });

  (TEST_DATABASE_URL ? describe : describe.skip)('concurrent joins (PostgreSQL)', () => {
    // Each join sends every member a chat:updated built for them (200 views per join): slow on a loaded machine, not wrong.
    it('20 parallel joins on a 5-use link: exactly 5 join', async () => {
      const { chatId, owner } = await group();
      const joiners = await users(20);
      const link = (await createLink(owner, chatId, { maxUses: 5 }).expect(201)).body.data;
      const results = await Promise.all(joiners.map((u) => join(u, link.code)));
      const statuses = results.map((r) => r.status).sort();
      expect(statuses).toEqual([...Array(5).fill(200), ...Array(15).fill(410)]);
      expect(results.filter((r) => r.status === 410).every((r) => r.body.code === 'INVITE_EXPIRED')).toBe(true);
      expect((await linkRow(link.id)).uses).toBe(5);
      const joined = joiners.filter((_, i) => results[i].status === 200).map((u) => u.id);
      const members = await memberIdsOf(chatId);
      expect(members).toHaveLength(3 + 5);
      expect(members).toEqual(expect.arrayContaining(joined));
    });

    it('20 parallel joins into a group with room for 5: it ends with exactly 200 members', async () => {
      const { chatId, owner } = await group();
      const joiners = await users(20);
      await fillGroup(t, chatId, 192);
      const link = (await createLink(owner, chatId).expect(201)).body.data;
      const results = await Promise.all(joiners.map((u) => join(u, link.code)));
      expect(results.map((r) => r.status).sort()).toEqual([...Array(5).fill(200), ...Array(15).fill(400)]);
      expect(results.filter((r) => r.status === 400).every((r) => r.body.code === 'GROUP_LIMIT_EXCEEDED')).toBe(true);
      expect((await memberIdsOf(chatId)).length).toBe(200);
      expect((await linkRow(link.id)).uses).toBe(5);
    }, 120_000);

    it('the same user joining 5 times at once joins once and counts one use', async () => {
      const { chatId, owner } = await group();
      const [joiner] = await users(1);
      const link = (await createLink(owner, chatId, { maxUses: 3 }).expect(201)).body.data;
      const results = await Promise.all(Array.from({ length: 5 }, () => join(joiner, link.code)));
      expect(results.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      expect((await linkRow(link.id)).uses).toBe(1);
      expect((await memberIdsOf(chatId)).filter((id) => id === joiner.id)).toHaveLength(1);
    });
  });
});

describe('joins by link against the group-changes budget', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp({ env: { RATE_LIMIT_GROUP_CHANGES: '2/60' } })));
  afterAll(() => t.close());

  it('a join that adds the caller counts as a group change, a repeat join and a leave do not; past the budget 429 and no use', async () => {
    const [owner, joiner] = [await signUp(t), await signUp(t)];
    const chatId = await createGroup(t, owner, [], 'Budget');
    const link = (await t.http().post(`/api/chats/${chatId}/invite`).set(owner.auth).send({}).expect(201)).body.data;
    const join = () => t.http().post(`/api/chats/join/${link.code}`).set(joiner.auth);
    const leave = () => t.http().delete(`/api/chats/${chatId}/leave`).set(joiner.auth).expect(200);
    const state = async () => ({
      member: (await t.backend.sql('SELECT 1 FROM chat_members WHERE chat_id = $1 AND user_id = $2', [chatId, joiner.id])).length === 1,
      uses: (await t.backend.sql('SELECT uses FROM invite_links WHERE id = $1', [link.id]))[0].uses,
    });

    await join().expect(200);
    for (let i = 0; i < 3; i++) await join().expect(200);
    await leave();
    await join().expect(200);
    // The budget is spent: leaving still works.
    await leave();
    const refused = await join();
    expect([refused.status, refused.body.code]).toEqual([429, 'RATE_LIMIT']);
    expect(await state()).toEqual({ member: false, uses: 2 });
  });
});

(TEST_REDIS_URL ? describe : describe.skip)('invite links across two instances', () => {
  const cluster = twoInstances();

  it('a join on one instance reaches the members and the joiner on the other', async () => {
    const { one, two } = cluster;
    const [owner, member, joiner] = [await signUp(one), await signUp(one), await signUp(one)];
    const chatId = await createGroup(one, owner, [member], 'Across');
    const code = (await one.http().post(`/api/chats/${chatId}/invite`).set(owner.auth).send({}).expect(201)).body.data.code;
    const [memberWs, joinerWs] = await Promise.all([connect(two, member), connect(two, joiner)]);
    try {
      await one.http().post(`/api/chats/join/${code}`).set(joiner.auth).expect(200);
      const updated = await memberWs.waitFor('chat:updated', (c) => c.id === chatId);
      expect(updated.members.map((m: { userId: string }) => m.userId).sort()).toEqual([owner.id, member.id, joiner.id].sort());
      expect((await joinerWs.waitFor('chat:new', (c) => c.id === chatId)).type).toBe('GROUP');
    } finally {
      memberWs.close();
      joinerWs.close();
    }
  });
});
