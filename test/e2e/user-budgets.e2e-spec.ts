import { createGroup, openDirect, connect, send } from '../support/chats';
import { signUp, TestUser } from '../support/factories';
import { createTestApp, TestApp } from '../support/test-app';

/**
 * Per-user budgets on changes that reach many others (each an event to everyone concerned, kept
 * in their event logs): profile saves, group creations, group changes, reactions. The address
 * budget (RATE_LIMIT_API) counts per route and per address; these count per user, whatever the
 * route and address. Small limits here; README "Limits" has the defaults.
 */
describe('per-user budgets', () => {
  let t: TestApp;
  beforeAll(
    async () =>
      (t = await createTestApp({
        env: { RATE_LIMIT_PROFILE_CHANGES: '3/60', RATE_LIMIT_GROUP_CREATE: '2/3600', RATE_LIMIT_GROUP_CHANGES: '3/60', RATE_LIMIT_REACTIONS: '4/60', RATE_LIMIT_SEARCH: '3/60' },
      })),
  );
  afterAll(() => t.close());

  const refused = (res: { status: number; body: { code: string; retryAfter: number }; headers: Record<string, string> }) => {
    expect([res.status, res.body.code]).toEqual([429, 'RATE_LIMIT']);
    expect(res.headers['retry-after']).toBe(String(res.body.retryAfter));
  };

  it('profile saves: those that change something count; past the budget 429, nothing saved, nobody told; others have their own', async () => {
    const [a, b] = [await signUp(t), await signUp(t)];
    await openDirect(t, a, b);
    for (const bio of ['one', 'two', 'three']) await t.http().patch('/api/users/me').set(a.auth).send({ bio }).expect(200);
    // A save of what is there already changes nothing and costs nothing; nor does a refused one.
    await t.http().patch('/api/users/me').set(a.auth).send({ bio: 'three' }).expect(200);
    expect((await t.http().patch('/api/users/me').set(a.auth).send({ nickname: b.nickname })).status).toBe(409);
    const bws = await connect(t, b);
    refused(await t.http().patch('/api/users/me').set(a.auth).send({ bio: 'four' }));
    expect(await t.backend.sql('SELECT bio FROM users WHERE id = $1', [a.id])).toEqual([{ bio: 'three' }]);
    await bws.expectNo('user:updated');
    await t.http().patch('/api/users/me').set(b.auth).send({ bio: 'mine' }).expect(200);
    bws.close();
  });

  it('group creations: past the budget 429 and no group; a creation refused for another reason costs nothing', async () => {
    const [a, b, shy] = [await signUp(t), await signUp(t), await signUp(t)];
    await t.http().put('/api/users/me/settings').set(shy.auth).send({ allowGroupInvites: 'nobody' }).expect(200);
    // The client shows who refused, the user takes them out and tries again.
    for (let i = 0; i < 3; i++) expect((await t.http().post('/api/chats/group').set(a.auth).send({ name: 'G', memberIds: [b.id, shy.id] })).status).toBe(403);
    const create = () => t.http().post('/api/chats/group').set(a.auth).send({ name: 'G', memberIds: [b.id] });
    for (let i = 0; i < 2; i++) expect((await create()).status).toBe(201);
    refused(await create());
    expect(await t.backend.sql(`SELECT count(*)::int AS n FROM chat_members m JOIN chats c ON c.id = m.chat_id WHERE m.user_id = $1 AND c.type = 'GROUP'`, [b.id])).toEqual([{ n: 2 }]);
  });

  it('group changes (info, members, roles, pins) share one budget; past it 429 and the group is as it was', async () => {
    const [owner, m1, m2, other] = [await signUp(t), await signUp(t), await signUp(t), await signUp(t)];
    const chatId = await createGroup(t, owner, [m1, m2]);
    // What is so already is no change and costs nothing: a form sending every field, the same role again.
    for (let i = 0; i < 3; i++) await t.http().patch(`/api/chats/${chatId}`).set(owner.auth).send({ name: 'Group', description: null }).expect(200);
    for (let i = 0; i < 3; i++) await t.http().patch(`/api/chats/${chatId}/members/${m2.id}/role`).set(owner.auth).send({ role: 'MEMBER' }).expect(200);
    await t.http().patch(`/api/chats/${chatId}`).set(owner.auth).send({ name: 'Renamed' }).expect(200);
    await t.http().patch(`/api/chats/${chatId}/members/${m1.id}/role`).set(owner.auth).send({ role: 'ADMIN' }).expect(200);
    await t.http().post(`/api/chats/${chatId}/members`).set(owner.auth).send({ userIds: [other.id] }).expect(200);
    refused(await t.http().delete(`/api/chats/${chatId}/members/${m2.id}`).set(owner.auth));
    refused(await t.http().patch(`/api/chats/${chatId}/members/${m1.id}/role`).set(owner.auth).send({ role: 'MEMBER' }));
    refused(await t.http().patch(`/api/chats/${chatId}`).set(owner.auth).send({ name: 'Again' }));
    // Any member may pin a message, which reaches every member too.
    const mws = await connect(t, m2);
    const message = await send(mws, chatId, 'pin me');
    for (let i = 0; i < 3; i++) await t.http().patch(`/api/chats/${chatId}/pin`).set(m2.auth).send({ messageId: i % 2 ? null : message.id }).expect(200);
    refused(await t.http().patch(`/api/chats/${chatId}/pin`).set(m2.auth).send({ messageId: null }));
    expect(await t.backend.sql('SELECT pinned_message_id FROM chats WHERE id = $1', [chatId])).toEqual([{ pinned_message_id: message.id }]);
    mws.close();
    const members = await t.backend.sql<{ user_id: string; role: string }>('SELECT user_id, role FROM chat_members WHERE chat_id = $1', [chatId]);
    expect(members.map((m) => m.user_id).sort()).toEqual([owner.id, m1.id, m2.id, other.id].sort());
    expect(members.find((m) => m.user_id === m1.id)!.role).toBe('ADMIN');
    expect(await t.backend.sql('SELECT name FROM chats WHERE id = $1', [chatId])).toEqual([{ name: 'Renamed' }]);
    // The admin's budget is their own.
    await t.http().patch(`/api/chats/${chatId}`).set(m1.auth).send({ name: 'By the admin' }).expect(200);
  });

  it('reactions added and removed count together, every call a repeat included; past the budget 429 and nothing changes', async () => {
    const [a, b]: TestUser[] = [await signUp(t), await signUp(t)];
    const chatId = await openDirect(t, a, b);
    const aws = await connect(t, a);
    const message = await send(aws, chatId, 'react to me');
    const react = () => t.http().post(`/api/messages/${message.id}/reactions`).set(b.auth).send({ emoji: '👍' });
    const unreact = () => t.http().delete(`/api/messages/${message.id}/reactions/${encodeURIComponent('👍')}`).set(b.auth);
    for (const call of [react, unreact, react, unreact]) expect((await call()).status).toBeLessThan(300);
    refused(await react());
    expect(await t.backend.sql('SELECT 1 FROM reactions WHERE message_id = $1', [message.id])).toEqual([]);
    // a's own budget is untouched.
    await t.http().post(`/api/messages/${message.id}/reactions`).set(a.auth).send({ emoji: '👍' }).expect(200);
    aws.close();
  });

  it('searches in a chat and across chats share one budget; past it 429, while history without a search still answers', async () => {
    const [a, b] = [await signUp(t), await signUp(t)];
    const chatId = await openDirect(t, a, b);
    const aws = await connect(t, a);
    await send(aws, chatId, 'needle in a haystack');
    aws.close();
    const inChat = (user: TestUser) => t.http().get(`/api/chats/${chatId}/messages?q=needle`).set(user.auth);
    const everywhere = (user: TestUser) => t.http().get('/api/messages/search?q=needle').set(user.auth);
    expect((await inChat(a).expect(200)).body.data.messages).toHaveLength(1);
    expect((await everywhere(a).expect(200)).body.data.messages).toHaveLength(1);
    await inChat(a).expect(200);
    refused(await everywhere(a));
    refused(await inChat(a));
    await t.http().get(`/api/chats/${chatId}/messages`).set(a.auth).expect(200);
    // b's budget is b's own.
    expect((await everywhere(b).expect(200)).body.data.messages).toHaveLength(1);
  });
});
