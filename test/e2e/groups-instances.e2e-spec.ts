import { ChatsRepository } from '../../src/chats/chats.repository';
import { connect, createGroup, send } from '../support/chats';
import { signIn, signUp, TestUser } from '../support/factories';
import { createTestApp, describeOnEachRedis, TestApp, twoInstances } from '../support/test-app';

const roles = (chat: { members: Array<{ userId: string; role: string }> }) => Object.fromEntries(chat.members.map((m) => [m.userId, m.role]));
const expectError = (res: { status: number; body: any }, status: number, code: string) =>
  expect({ status: res.status, success: res.body.success, code: res.body.code }).toEqual({ status, success: false, code });

/**
 * wire-contract-v2.2 §1.4, §5, §6, §18.6: what joins and additions leave in a group's timeline,
 * the pin against a removal, and the group routes in /api/docs. (groups.e2e-spec.ts has the
 * permission matrix and the routes one by one.)
 */
describe('groups: timeline, pin and docs (v2.2 §1.4, §5.5, §6)', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  const users = async (n: number): Promise<TestUser[]> => Promise.all(Array.from({ length: n }, () => signUp(t)));
  const history = async (user: TestUser, chatId: string) => (await t.http().get(`/api/chats/${chatId}/messages`).set(user.auth).expect(200)).body.data.messages;

  it('records no SYSTEM message for a join by link or an addition by an admin (§1.4); a removed member comes back by an addition, not by a link', async () => {
    const [owner, admin, added, joiner, kicked] = await users(5);
    const chatId = await createGroup(t, owner, [admin, kicked]);
    const ows = await connect(t, owner);
    await t.http().patch(`/api/chats/${chatId}/members/${admin.id}/role`).set(owner.auth).send({ role: 'ADMIN' }).expect(200);
    const code = (await t.http().post(`/api/chats/${chatId}/invite`).set(admin.auth).send({}).expect(201)).body.data.code;

    await t.http().post(`/api/chats/${chatId}/members`).set(admin.auth).send({ userIds: [added.id] }).expect(200);
    await t.http().post(`/api/chats/join/${code}`).set(joiner.auth).expect(200);
    await t.http().delete(`/api/chats/${chatId}/members/${kicked.id}`).set(admin.auth).expect(200);
    // The link does not undo the removal (README); an admin adds them back, as a MEMBER.
    expectError(await t.http().post(`/api/chats/join/${code}`).set(kicked.auth), 403, 'FORBIDDEN');
    const readded = (await t.http().post(`/api/chats/${chatId}/members`).set(admin.auth).send({ userIds: [kicked.id] }).expect(200)).body.data;
    expect(roles(readded)).toEqual({ [owner.id]: 'OWNER', [admin.id]: 'ADMIN', [added.id]: 'MEMBER', [joiner.id]: 'MEMBER', [kicked.id]: 'MEMBER' });
    // The re-addition's chat:updated comes last: every message:new of the changes before it has arrived.
    await ows.waitFor('chat:updated', (c) => c.members?.some((m: any) => m.userId === kicked.id));

    const expected = [`role_changed:${admin.id}:ADMIN`, `member_kicked:${kicked.id}`];
    expect(ows.received.filter((f) => f.event === 'message:new').map((f) => f.payload.text)).toEqual(expected);
    const timeline = await history(owner, chatId);
    expect(timeline.map((m: any) => `${m.type} ${m.text}`).sort()).toEqual(expected.map((text) => `SYSTEM ${text}`).sort());
    ows.close();
  });

  it('pins for current members only: the pin statement itself refuses a caller removed after the check (CHAT_NOT_FOUND)', async () => {
    const [owner, kicked] = await users(2);
    const chatId = await createGroup(t, owner, [kicked]);
    const ows = await connect(t, owner);
    const [first, second] = [await send(ows, chatId, 'pinned first'), await send(ows, chatId, 'pin me later')];
    const repository = t.app.get(ChatsRepository);
    const pin = (user: TestUser, messageId: string | null) => repository.transaction((tx) => repository.setPinnedMessage(tx, chatId, user.id, messageId));
    const pinnedId = async () => (await t.backend.sql('SELECT pinned_message_id FROM chats WHERE id = $1', [chatId]))[0].pinned_message_id;
    expect(await pin(owner, first.id)).toBe(true);
    await t.http().delete(`/api/chats/${chatId}/members/${kicked.id}`).set(owner.auth).expect(200);

    // A pin whose permission check passed just before the removal committed runs this statement next: it changes nothing.
    expect(await pin(kicked, second.id)).toBeNull();
    expect(await pin(kicked, null)).toBeNull();
    expect(await pinnedId()).toBe(first.id);
    expectError(await t.http().patch(`/api/chats/${chatId}/pin`).set(kicked.auth).send({ messageId: null }), 404, 'CHAT_NOT_FOUND');
    expect(await pinnedId()).toBe(first.id);
    // A member's pin goes through; a message the statement refuses is false, not a non-member.
    expect(await pin(owner, '01900000-0000-7000-8000-000000000000')).toBe(false);
    expect(await pin(owner, second.id)).toBe(true);
    expect(await pinnedId()).toBe(second.id);
    ows.close();
  });

  it('lists every group and invite-link route in /api/docs with its error codes, the privacy refusal as PRIVACY_GROUP_INVITE:<names>', async () => {
    const doc = (await t.http().get('/api/docs-json').expect(200)).body;
    const routes: Array<[string, string, Record<number, string[]>]> = [
      ['/api/chats/group', 'post', { 400: ['GROUP_LIMIT_EXCEEDED'], 403: ['BLOCKED'], 404: ['USER_NOT_FOUND'], 422: ['VALIDATION_ERROR'] }],
      ['/api/chats/{id}', 'patch', { 400: ['NOT_A_GROUP'], 403: ['FORBIDDEN'], 404: ['CHAT_NOT_FOUND'], 422: ['VALIDATION_ERROR'] }],
      ['/api/chats/{id}', 'delete', { 400: ['NOT_A_GROUP'], 403: ['FORBIDDEN'], 404: ['CHAT_NOT_FOUND'] }],
      ['/api/chats/{id}/pin', 'patch', { 404: ['CHAT_NOT_FOUND', 'MESSAGE_NOT_FOUND'], 422: ['VALIDATION_ERROR'] }],
      ['/api/chats/{id}/members/{userId}/role', 'patch', { 400: ['NOT_A_GROUP', 'CANNOT_CHANGE_OWNER'], 403: ['FORBIDDEN'], 404: ['CHAT_NOT_FOUND', 'MEMBER_NOT_FOUND'], 422: ['VALIDATION_ERROR'] }],
      ['/api/chats/{id}/members', 'post', { 400: ['NOT_A_GROUP', 'GROUP_LIMIT_EXCEEDED'], 403: ['FORBIDDEN', 'BLOCKED'], 404: ['CHAT_NOT_FOUND', 'USER_NOT_FOUND'], 422: ['VALIDATION_ERROR'] }],
      ['/api/chats/{id}/members/{userId}', 'delete', { 400: ['NOT_A_GROUP'], 403: ['FORBIDDEN'], 404: ['CHAT_NOT_FOUND', 'MEMBER_NOT_FOUND'] }],
      ['/api/chats/{id}/leave', 'delete', { 404: ['CHAT_NOT_FOUND'] }],
      ['/api/chats/{id}/invite', 'post', { 400: ['NOT_A_GROUP', 'INVITE_LINK_LIMIT'], 403: ['FORBIDDEN'], 404: ['CHAT_NOT_FOUND'], 422: ['VALIDATION_ERROR'] }],
      ['/api/chats/{id}/invite', 'get', { 400: ['NOT_A_GROUP'], 403: ['FORBIDDEN'], 404: ['CHAT_NOT_FOUND'] }],
      ['/api/chats/invite/{linkId}', 'delete', { 403: ['FORBIDDEN'], 404: ['INVITE_NOT_FOUND'] }],
      ['/api/chats/join/{code}', 'get', { 404: ['INVITE_NOT_FOUND'], 410: ['INVITE_EXPIRED'] }],
      ['/api/chats/join/{code}', 'post', { 400: ['GROUP_LIMIT_EXCEEDED', 'NOT_A_GROUP'], 403: ['FORBIDDEN'], 404: ['INVITE_NOT_FOUND'], 410: ['INVITE_EXPIRED'] }],
    ];
    for (const [path, method, errors] of routes) {
      const op = doc.paths[path]?.[method];
      expect({ route: `${method} ${path}`, documented: !!op }).toEqual({ route: `${method} ${path}`, documented: true });
      expect(Object.keys(op.responses)).toEqual(expect.arrayContaining(['401', ...Object.keys(errors)]));
      for (const [status, codes] of Object.entries(errors)) {
        const response = op.responses[status];
        const schema = JSON.stringify(response.content['application/json'].schema.properties.code);
        const missing = codes.filter((code) => !response.description.includes(`\`${code}\``) || !schema.includes(JSON.stringify(code)));
        expect({ route: `${method} ${path}`, status, missing }).toEqual({ route: `${method} ${path}`, status, missing: [] });
      }
    }
    // The privacy refusal, as the client receives it (§18.6): the code with the names after a colon.
    for (const [path, plain] of [['/api/chats/group', ['BLOCKED']], ['/api/chats/{id}/members', ['FORBIDDEN', 'BLOCKED']]] as const) {
      const refused = doc.paths[path].post.responses['403'];
      expect(refused.description).toContain('`PRIVACY_GROUP_INVITE:<names>`');
      expect(refused.description).not.toContain('`PRIVACY_GROUP_INVITE`');
      expect(refused.content['application/json'].schema.properties.code).toEqual({
        type: 'string',
        oneOf: [
          { type: 'string', enum: plain },
          { type: 'string', pattern: '^PRIVACY_GROUP_INVITE:', description: 'PRIVACY_GROUP_INVITE:<names>' },
        ],
      });
    }
  });
});

/**
 * Every change of a group reaches the members connected to the other instance, through the bus
 * on one Redis and on a Redis Cluster: members sit on both instances, and the changes are made
 * through either.
 */
describeOnEachRedis('group events across two instances', (redis) => {
  const pair = twoInstances({}, redis);
  const systemMessage = (ws: { waitFor: (event: string, predicate: (p: any) => boolean) => Promise<any> }, text: string) =>
    ws.waitFor('message:new', (m) => m.type === 'SYSTEM' && m.text === text);

  it('delivers a role change, a new description, added members and a pin to members on the other instance', async () => {
    const { one, two } = pair;
    const [owner, a, b, newcomer] = await Promise.all([signUp(one), signUp(one), signUp(two), signUp(two)]);
    const chatId = await createGroup(one, owner, [a, b]);
    const [ows, aws, bws, nws] = [await connect(one, owner), await connect(two, a), await connect(two, b), await connect(one, newcomer)];

    // Role change through one: the SYSTEM message and chat:updated reach a and b on two.
    await one.http().patch(`/api/chats/${chatId}/members/${a.id}/role`).set(owner.auth).send({ role: 'ADMIN' }).expect(200);
    for (const ws of [aws, bws]) {
      expect(await systemMessage(ws, `role_changed:${a.id}:ADMIN`)).toMatchObject({ chatId, sender: { id: owner.id } });
      expect(roles(await ws.waitFor('chat:updated', (c) => c.id === chatId && c.members))[a.id]).toBe('ADMIN');
    }

    // The new ADMIN changes the description through two: the owner on one hears of it.
    await two.http().patch(`/api/chats/${chatId}`).set(a.auth).send({ description: 'Across instances' }).expect(200);
    expect(await ows.waitFor('chat:updated', (c) => c.description === 'Across instances')).toMatchObject({ id: chatId });
    expect(await bws.waitFor('chat:updated', (c) => c.description === 'Across instances')).toMatchObject({ id: chatId });

    // The ADMIN adds a member through two: the newcomer on one gets chat:new, the owner on one chat:updated with them.
    await two.http().post(`/api/chats/${chatId}/members`).set(a.auth).send({ userIds: [newcomer.id] }).expect(200);
    expect(roles(await nws.waitFor('chat:new', (c) => c.id === chatId))[newcomer.id]).toBe('MEMBER');
    expect(roles(await ows.waitFor('chat:updated', (c) => c.id === chatId && c.members?.length === 4))[newcomer.id]).toBe('MEMBER');
    await bws.waitFor('chat:updated', (c) => c.id === chatId && c.members?.length === 4);

    // A MEMBER pins through two: everyone on one and two, the caller included, gets {id, pinnedMessageId}.
    const message = await send(ows, chatId, 'pin this');
    await two.http().patch(`/api/chats/${chatId}/pin`).set(b.auth).send({ messageId: message.id }).expect(200);
    for (const ws of [ows, nws, aws, bws]) expect(await ws.waitFor('chat:updated', (c) => c.pinnedMessageId === message.id)).toEqual({ id: chatId, pinnedMessageId: message.id });
    for (const ws of [ows, aws, bws, nws]) ws.close();
  });

  it('delivers a removal and leaving, an OWNER\'s too with the new roles, to members on the other instance', async () => {
    const { one, two } = pair;
    const [owner, admin, member, late, kicked] = await Promise.all([signUp(one), signUp(one), signUp(one), signUp(two), signUp(two)]);
    const chatId = await createGroup(one, owner, [admin, member, late, kicked]);
    await pair.backend.sql(`UPDATE chat_members SET role = 'ADMIN' WHERE chat_id = $1 AND user_id = $2`, [chatId, admin.id]);
    const [ows, adminWs, mws, lws, kws] = [await connect(one, owner), await connect(two, admin), await connect(one, member), await connect(two, late), await connect(two, kicked)];

    // Removal through one: the removed user on two gets chat:deleted, the rest (both instances) the SYSTEM message and chat:member-left.
    await one.http().delete(`/api/chats/${chatId}/members/${kicked.id}`).set(owner.auth).expect(200);
    expect(await kws.waitFor('chat:deleted')).toEqual({ chatId });
    for (const ws of [ows, adminWs, mws, lws]) {
      expect(await systemMessage(ws, `member_kicked:${kicked.id}`)).toMatchObject({ chatId, sender: { id: owner.id } });
      expect(await ws.waitFor('chat:member-left')).toEqual({ chatId, userId: kicked.id });
      expect((await ws.waitFor('chat:updated', (c) => c.id === chatId && c.members)).members.map((m: any) => m.userId)).not.toContain(kicked.id);
    }

    // A member leaves through two: their socket on one gets chat:deleted, the others member_left and chat:member-left.
    await two.http().delete(`/api/chats/${chatId}/leave`).set(member.auth).expect(200);
    expect(await mws.waitFor('chat:deleted')).toEqual({ chatId });
    for (const ws of [ows, adminWs, lws]) {
      expect(await systemMessage(ws, 'member_left')).toMatchObject({ chatId, sender: { id: member.id } });
      expect(await ws.waitFor('chat:member-left')).toEqual({ chatId, userId: member.id });
    }

    // The OWNER leaves through one (another device of theirs is on two): the group passes to the
    // ADMIN, and the members on two get chat:updated with the new roles.
    const ownerOnTwo = await connect(two, await signIn(two, owner.email));
    await one.http().delete(`/api/chats/${chatId}/leave`).set(owner.auth).expect(200);
    for (const ws of [ows, ownerOnTwo]) expect(await ws.waitFor('chat:deleted')).toEqual({ chatId });
    for (const ws of [adminWs, lws]) {
      expect(await systemMessage(ws, 'member_left')).toMatchObject({ chatId, sender: { id: owner.id } });
      expect(await ws.waitFor('chat:member-left', (p) => p.userId === owner.id)).toEqual({ chatId, userId: owner.id });
      expect(roles(await ws.waitFor('chat:updated', (c) => c.id === chatId && c.members?.length === 2))).toEqual({ [admin.id]: 'OWNER', [late.id]: 'MEMBER' });
    }
    // The removed user heard none of it.
    await kws.expectNo('message:new');
    for (const ws of [ows, ownerOnTwo, adminWs, mws, lws, kws]) ws.close();
  });

  it('delivers the deletion of a group to every member on both instances, the OWNER\'s other device too', async () => {
    const { one, two } = pair;
    const [owner, a, b] = await Promise.all([signUp(one), signUp(one), signUp(two)]);
    const chatId = await createGroup(two, owner, [a, b]);
    const sockets = [await connect(one, owner), await connect(two, await signIn(two, owner.email)), await connect(one, a), await connect(two, b)];
    await one.http().delete(`/api/chats/${chatId}`).set(owner.auth).expect(200);
    for (const ws of sockets) expect(await ws.waitFor('chat:deleted')).toEqual({ chatId });
    expectError(await two.http().get(`/api/chats/${chatId}`).set(b.auth), 404, 'CHAT_NOT_FOUND');
    for (const ws of sockets) ws.close();
  });
});
