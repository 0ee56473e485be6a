import { randomBytes } from 'node:crypto';
import { image } from '../support/media-fixtures';
import { connect, createGroup, openDirect, send } from '../support/chats';
import { TEST_REDIS_URL } from '../support/env';
import { signUp, TestUser } from '../support/factories';
import { createBackend, createTestApp, TestApp, TestBackend, twoInstances } from '../support/test-app';
import { WsClient } from '../support/ws-client';

/**
 * What the v2.2 web client needs from every route and socket (wire-contract-v2.2.md): the
 * `X-Requested-With: H2V` rule for cookie sessions (§0), the settings keys of §15, and presence
 * kept right as relations between users start and end (user:online / user:offline).
 */

/**
 * Resolves once every event published to `user` before the call has reached `ws`: the user's own
 * user:updated travels the same bus after them. What did not arrive by then was not sent.
 */
async function settle(t: TestApp, user: TestUser, ws: WsClient): Promise<void> {
  const marker = `settle ${randomBytes(6).toString('hex')}`;
  await t.http().patch('/api/users/me').set(user.auth).send({ bio: marker }).expect(200);
  await ws.waitFor('user:updated', (p) => p.id === user.id && p.bio === marker);
}

/** Resolves once the server has handled every frame sent on `ws` so far (frames are handled in order). */
async function handled(ws: WsClient): Promise<void> {
  ws.send('test:sentinel');
  await ws.waitFor('error', (p) => p.code === 'UNKNOWN_EVENT');
}

const presenceOf = (ws: WsClient, userId: string) =>
  ws.frames.filter((f) => (f.event === 'user:online' || f.event === 'user:offline') && f.payload.userId === userId).map((f) => f.event);

describe('client v2.2', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  const block = (blocker: TestUser, blocked: TestUser) => t.http().post(`/api/users/${blocked.id}/block`).set(blocker.auth).expect(200);
  const unblock = (blocker: TestUser, blocked: TestUser) => t.http().delete(`/api/users/${blocked.id}/block`).set(blocker.auth).expect(200);
  const putSettings = (user: TestUser, body: object) => t.http().put('/api/users/me/settings').set(user.auth).send(body);

  describe('X-Requested-With: H2V on cookie sessions (§0)', () => {
    const blocks = (user: TestUser) => t.backend.sql('SELECT blocked_id FROM blocks WHERE blocker_id = $1', [user.id]);

    it('refuses a state-changing request authenticated by the cookie without the header with 403 CSRF_REJECTED, changing nothing', async () => {
      const [user, target] = [await signUp(t), await signUp(t)];
      const writes = [
        t.http().post(`/api/users/${target.id}/block`).set('Cookie', user.cookie),
        t.http().post(`/api/contacts/${target.id}`).set('Cookie', user.cookie).send({}),
        t.http().patch('/api/users/me').set('Cookie', user.cookie).send({ firstName: 'Forged' }),
        t.http().put('/api/users/me/settings').set('Cookie', user.cookie).send({ theme: 'light' }),
        t.http().delete('/api/users/me').set('Cookie', user.cookie),
        t.http().post('/api/auth/logout').set('Cookie', user.cookie),
        t.http().post(`/api/users/${target.id}/block`).set('Cookie', user.cookie).set('X-Requested-With', 'XMLHttpRequest'),
      ];
      for (const write of writes) {
        const res = await write.expect(403);
        expect(res.body).toEqual({ success: false, code: 'CSRF_REJECTED', message: expect.any(String) });
      }
      expect(await blocks(user)).toEqual([]);
      expect(await t.backend.sql('SELECT 1 FROM contacts WHERE owner_id = $1', [user.id])).toEqual([]);
      expect(await t.backend.sql('SELECT first_name FROM users WHERE id = $1', [user.id])).toEqual([{ first_name: null }]);
      expect((await t.http().get('/api/users/me/settings').set('Cookie', user.cookie).expect(200)).body.data.theme).toBe('dark');
      // The session survived the refused logout and account deletion.
      await t.http().get('/api/users/me').set('Cookie', user.cookie).expect(200);
    });

    it('refuses before reading the body: a bad body without the header is 403, not 422', async () => {
      const user = await signUp(t);
      const res = await t.http().patch('/api/users/me').set('Cookie', user.cookie).send({ nickname: 7 }).expect(403);
      expect(res.body.code).toBe('CSRF_REJECTED');
    });

    it('lets the web client through: the cookie with X-Requested-With: H2V (an empty JSON body too)', async () => {
      const [user, target] = [await signUp(t), await signUp(t)];
      await t.http().post(`/api/users/${target.id}/block`).set(user.browser).set('Content-Type', 'application/json').expect(200);
      expect(await blocks(user)).toEqual([{ blocked_id: target.id }]);
      await t.http().delete(`/api/users/${target.id}/block`).set(user.browser).set('Content-Type', 'application/json').expect(200);
      const res = await t.http().put('/api/users/me/settings').set(user.browser).send({ theme: 'light' }).expect(200);
      expect(res.body.data.theme).toBe('light');
    });

    it('needs no header for Bearer requests (mobile apps, scripts), for reads, or without a session', async () => {
      const [user, target] = [await signUp(t), await signUp(t)];
      await t.http().post(`/api/users/${target.id}/block`).set(user.auth).expect(200);
      // Bearer decides whose request it is, so a cookie beside it changes nothing.
      await t.http().delete(`/api/users/${target.id}/block`).set(user.auth).set('Cookie', user.cookie).expect(200);
      await t.http().get('/api/users/me').set('Cookie', user.cookie).expect(200);
      await t.http().post('/api/auth/send-otp').send({ email: `csrf.${randomBytes(4).toString('hex')}@example.com` }).expect(200);
      // No session at all: nothing to forge, and 401 still means "no session".
      expect((await t.http().post(`/api/users/${target.id}/block`).expect(401)).body.code).toBe('UNAUTHORIZED');
    });

    it("exempts the client's XHR upload (POST /api/upload), but not the avatar upload it sends through request()", async () => {
      const user = await signUp(t);
      const png = await image('png');
      const uploaded = await t.http().post('/api/upload').set('Cookie', user.cookie).attach('file', png, 'a.png').expect(201);
      expect(uploaded.body.data.url).toMatch(/^\/uploads\//);
      await t.http().post('/API/Upload/').set('Cookie', user.cookie).attach('file', png, 'b.png').expect(201);
      expect((await t.http().post('/api/upload/avatar').set('Cookie', user.cookie).attach('file', png, 'c.png').expect(403)).body.code).toBe('CSRF_REJECTED');
      await t.http().post('/api/upload/avatar').set(user.browser).attach('file', png, 'c.png').expect(201);
      expect(await t.backend.sql('SELECT 1 FROM uploads WHERE owner_id = $1', [user.id])).toHaveLength(3);
    });
  });

  describe('settings keys (§15)', () => {
    const stored = async (user: TestUser) => (await t.backend.sql('SELECT settings FROM user_settings WHERE user_id = $1', [user.id]))[0].settings;

    it('takes booleans for the four privacy keys and always answers (and stores) their levels', async () => {
      const user = await signUp(t);
      const res = await putSettings(user, { showOnlineStatus: false, showReadReceipts: true, showAvatar: 'contacts', allowGroupInvites: false }).expect(200);
      expect(res.body.data).toMatchObject({ showOnlineStatus: 'nobody', showReadReceipts: 'all', showAvatar: 'contacts', allowGroupInvites: 'nobody' });
      expect(await stored(user)).toEqual({ showOnlineStatus: 'nobody', showReadReceipts: 'all', showAvatar: 'contacts', allowGroupInvites: 'nobody' });
      // A document stored by an older client keeps its booleans; it is still answered in levels.
      await t.backend.sql(`UPDATE user_settings SET settings = '{"showOnlineStatus": true, "showReadReceipts": false}' WHERE user_id = $1`, [user.id]);
      const read = (await t.http().get('/api/users/me/settings').set(user.auth).expect(200)).body.data;
      expect(read).toMatchObject({ showOnlineStatus: 'all', showReadReceipts: 'nobody', showAvatar: 'all', allowGroupInvites: 'all' });
    });

    it("accepts the client's reset (its full defaults, theme included, locale left out) and its other keys", async () => {
      const user = await signUp(t);
      await putSettings(user, { locale: 'ru', theme: 'light', voiceSpeed: 2, autoDeleteMonths: '6' }).expect(200);
      const defaults = {
        notifSound: true,
        notifDesktop: true,
        sendByEnter: true,
        fontSize: 'medium',
        showOnlineStatus: 'all',
        showReadReceipts: 'all',
        showAvatar: 'all',
        allowGroupInvites: 'all',
        mediaAutoDownload: true,
        chatWallpaper: 'default',
        theme: 'dark',
        autoDeleteMonths: 'never',
        voiceSpeed: 0,
      };
      const res = await putSettings(user, defaults).expect(200);
      expect(res.body.data).toEqual({ ...defaults, locale: 'ru' });
      expect((await putSettings(user, { locale: null }).expect(200)).body.data.locale).toBeNull();
    });

    it('refuses values outside the v2.2 ranges with VALIDATION_ERROR naming the key, storing nothing', async () => {
      const user = await signUp(t);
      const cases: Array<[string, unknown]> = [
        ['theme', 'blue'],
        ['voiceSpeed', 3],
        ['voiceSpeed', '1'],
        ['autoDeleteMonths', 6],
        ['autoDeleteMonths', '2'],
        ['showAvatar', 'friends'],
        ['allowGroupInvites', 1],
        ['locale', 'de'],
      ];
      for (const [key, value] of cases) {
        const res = await putSettings(user, { [key]: value }).expect(422);
        expect(res.body).toMatchObject({ code: 'VALIDATION_ERROR', errors: { [key]: expect.any(Array) } });
      }
      expect(await stored(user)).toEqual({});
    });
  });

  describe('presence as relations start and end', () => {
    /** Two online users with sockets, who share nothing yet. */
    async function strangers(): Promise<[TestUser, TestUser, WsClient, WsClient]> {
      const [a, b] = await Promise.all([signUp(t), signUp(t)]);
      return [a, b, await connect(t, a), await connect(t, b)];
    }

    it("tells the creator of a direct chat the partner's state at once, and the partner the creator's when the first message reveals the chat", async () => {
      const [a, b, aws, bws] = await strangers();
      const chatId = await openDirect(t, a, b);
      expect(await aws.waitFor('user:online', (p) => p.userId === b.id)).toEqual({ userId: b.id });
      // b does not know of the chat yet: nothing about a.
      await settle(t, b, bws);
      expect(presenceOf(bws, a.id)).toEqual([]);

      await send(aws, chatId, 'hello');
      await bws.waitFor('chat:new');
      expect(await bws.waitFor('user:online', (p) => p.userId === a.id)).toEqual({ userId: a.id });
      // Both follow each other now, so transitions reach both ways.
      aws.close();
      expect(await bws.waitFor('user:offline', (p) => p.userId === a.id)).toEqual({ userId: a.id, lastOnline: expect.any(String) });
      bws.close();
    });

    it('tells an offline partner as user:offline with their last-seen time, or null when never online', async () => {
      const [a, seen, never] = [await signUp(t), await signUp(t), await signUp(t)];
      await t.backend.sql(`UPDATE users SET last_online_at = '2026-01-02T03:04:05Z' WHERE id = $1`, [seen.id]);
      const aws = await connect(t, a);
      await openDirect(t, a, seen);
      expect(await aws.waitFor('user:offline', (p) => p.userId === seen.id)).toEqual({ userId: seen.id, lastOnline: '2026-01-02T03:04:05.000Z' });
      await openDirect(t, a, never);
      expect(await aws.waitFor('user:offline', (p) => p.userId === never.id)).toEqual({ userId: never.id, lastOnline: null });
      aws.close();
    });

    it("tells the members of a new group, and members added later, each other's state", async () => {
      const [owner, m1, m2, late] = [await signUp(t), await signUp(t), await signUp(t), await signUp(t)];
      const [ows, m1ws, lws] = [await connect(t, owner), await connect(t, m1), await connect(t, late)];
      const groupId = await createGroup(t, owner, [m1, m2]);
      expect(await ows.waitFor('user:online', (p) => p.userId === m1.id)).toEqual({ userId: m1.id });
      expect(await ows.waitFor('user:offline', (p) => p.userId === m2.id)).toEqual({ userId: m2.id, lastOnline: null });
      expect(await m1ws.waitFor('user:online', (p) => p.userId === owner.id)).toEqual({ userId: owner.id });

      await t.http().post(`/api/chats/${groupId}/members`).set(owner.auth).send({ userIds: [late.id] }).expect(200);
      expect(await lws.waitFor('user:online', (p) => p.userId === owner.id)).toEqual({ userId: owner.id });
      expect(await lws.waitFor('user:online', (p) => p.userId === m1.id)).toEqual({ userId: m1.id });
      expect(await lws.waitFor('user:offline', (p) => p.userId === m2.id)).toEqual({ userId: m2.id, lastOnline: null });
      expect(await m1ws.waitFor('user:online', (p) => p.userId === late.id)).toEqual({ userId: late.id });
      [ows, m1ws, lws].forEach((ws) => ws.close());
    });

    it('tells both sides of a new contact, including a user who shows presence to contacts only', async () => {
      const [a, b, aws, bws] = await strangers();
      await putSettings(b, { showOnlineStatus: 'contacts' }).expect(200);
      await t.http().post(`/api/contacts/${b.id}`).set(a.auth).expect(200);
      // a follows b now, but b shows presence to b's own contacts only; b sees a.
      expect(await bws.waitFor('user:online', (p) => p.userId === a.id)).toEqual({ userId: a.id });
      await settle(t, a, aws);
      expect(presenceOf(aws, b.id)).toEqual([]);

      await t.http().post(`/api/contacts/${a.id}`).set(b.auth).expect(200);
      expect(await aws.waitFor('user:online', (p) => p.userId === b.id)).toEqual({ userId: b.id });
      aws.close();
      bws.close();
    });

    it('tells a user who added a contacts-only user, without being one of theirs, nothing of their connects and disconnects', async () => {
      const [a, b, c] = [await signUp(t), await signUp(t), await signUp(t)];
      await putSettings(b, { showOnlineStatus: 'contacts' }).expect(200);
      await t.http().post(`/api/contacts/${b.id}`).set(a.auth).expect(200); // a has b; b has not a
      await t.http().post(`/api/contacts/${b.id}`).set(c.auth).expect(200); // c and b have each other
      await t.http().post(`/api/contacts/${c.id}`).set(b.auth).expect(200);
      const [aws, cws] = [await connect(t, a), await connect(t, c)];
      const bws = await connect(t, b);
      expect(await cws.waitFor('user:online', (p) => p.userId === b.id)).toEqual({ userId: b.id });
      bws.close();
      expect(await cws.waitFor('user:offline', (p) => p.userId === b.id)).toMatchObject({ userId: b.id });
      await settle(t, a, aws);
      expect(presenceOf(aws, b.id)).toEqual([]);
      aws.close();
      cws.close();
    });

    it('sends user:offline both ways on a block, then no presence or typing; lifting it sends the current state', async () => {
      const [a, b, aws, bws] = await strangers();
      const chatId = await openDirect(t, a, b);
      await send(aws, chatId, 'hi');
      await aws.waitFor('user:online', (p) => p.userId === b.id);
      await bws.waitFor('user:online', (p) => p.userId === a.id);

      await block(b, a);
      expect(await aws.waitFor('user:offline', (p) => p.userId === b.id)).toEqual({ userId: b.id, lastOnline: null });
      expect(await bws.waitFor('user:offline', (p) => p.userId === a.id)).toEqual({ userId: a.id, lastOnline: null });
      aws.send('presence:away');
      aws.send('presence:back');
      aws.send('typing:start', { chatId });
      await handled(aws);
      await settle(t, a, aws);
      await settle(t, b, bws);
      expect(presenceOf(bws, a.id)).toEqual([]);
      expect(bws.frames.filter((f) => f.event.startsWith('typing:'))).toEqual([]);

      await unblock(b, a);
      expect(await aws.waitFor('user:online', (p) => p.userId === b.id)).toEqual({ userId: b.id });
      expect(await bws.waitFor('user:online', (p) => p.userId === a.id)).toEqual({ userId: a.id });
      aws.close();
      bws.close();
    });

    it('tells a blocked stranger nothing', async () => {
      const [a, b, aws, bws] = await strangers();
      await block(a, b);
      await unblock(a, b);
      await settle(t, a, aws);
      await settle(t, b, bws);
      expect([...presenceOf(aws, b.id), ...presenceOf(bws, a.id)]).toEqual([]);
      aws.close();
      bws.close();
    });

    it('sends user:offline when a privacy setting narrows to exclude a partner, and the state again when it widens', async () => {
      const [a, b, aws, bws] = await strangers();
      const chatId = await openDirect(t, a, b);
      await send(aws, chatId, 'hi');
      await aws.waitFor('user:online', (p) => p.userId === b.id);

      await putSettings(b, { showOnlineStatus: 'contacts' }).expect(200);
      expect(await aws.waitFor('user:offline', (p) => p.userId === b.id)).toEqual({ userId: b.id, lastOnline: null });
      bws.send('presence:away');
      await handled(bws);
      await settle(t, a, aws);
      expect(presenceOf(aws, b.id)).toEqual([]);
      bws.send('presence:back');
      await handled(bws);

      await putSettings(b, { showOnlineStatus: true }).expect(200);
      expect(await aws.waitFor('user:online', (p) => p.userId === b.id)).toEqual({ userId: b.id });
      // A change that changes nothing for a tells a nothing.
      await putSettings(b, { showOnlineStatus: 'all', fontSize: 'large' }).expect(200);
      await settle(t, a, aws);
      expect(presenceOf(aws, b.id)).toEqual([]);
      aws.close();
      bws.close();
    });

    it('sends user:offline both ways when a member is removed from the only chat they shared, then nothing more', async () => {
      const [owner, member, other] = [await signUp(t), await signUp(t), await signUp(t)];
      const [ows, mws, xws] = [await connect(t, owner), await connect(t, member), await connect(t, other)];
      const groupId = await createGroup(t, owner, [member, other]);
      // owner and member also share a direct chat: removal from the group does not end that relation.
      const directId = await openDirect(t, owner, member);
      await send(ows, directId, 'hi');
      await xws.waitFor('user:online', (p) => p.userId === member.id);
      await mws.waitFor('user:online', (p) => p.userId === other.id);

      await t.http().delete(`/api/chats/${groupId}/members/${member.id}`).set(owner.auth).expect(200);
      expect(await xws.waitFor('user:offline', (p) => p.userId === member.id)).toEqual({ userId: member.id, lastOnline: null });
      expect(await mws.waitFor('user:offline', (p) => p.userId === other.id)).toEqual({ userId: other.id, lastOnline: null });
      await mws.waitFor('chat:deleted');
      xws.send('typing:start', { chatId: groupId });
      await handled(xws);
      await settle(t, owner, ows);
      await settle(t, member, mws);
      // owner still follows member through their direct chat: nothing changed for them.
      expect(presenceOf(ows, member.id).filter((e) => e === 'user:offline')).toEqual([]);
      expect(mws.frames.filter((f) => f.event.startsWith('typing:'))).toEqual([]);

      // member going offline reaches owner (the direct chat), and other no more.
      mws.close();
      expect(await ows.waitFor('user:offline', (p) => p.userId === member.id)).toEqual({ userId: member.id, lastOnline: expect.any(String) });
      await settle(t, other, xws);
      expect(presenceOf(xws, member.id)).toEqual([]);
      [ows, xws].forEach((ws) => ws.close());
    });
  });
});

(TEST_REDIS_URL ? describe : describe.skip)('client v2.2 presence across two instances', () => {
  const cluster = twoInstances();

  it('tells sockets on the other instance when a chat starts and when a block ends it', async () => {
    const { one, two } = cluster;
    const [a, b] = await Promise.all([signUp(one), signUp(two)]);
    const aws = await connect(one, a);
    const bws = await connect(two, b);
    const chatId = await openDirect(one, a, b);
    expect(await aws.waitFor('user:online', (p) => p.userId === b.id)).toEqual({ userId: b.id });
    await send(aws, chatId, 'hello across');
    expect(await bws.waitFor('user:online', (p) => p.userId === a.id)).toEqual({ userId: a.id });

    await two.http().post(`/api/users/${a.id}/block`).set(b.auth).expect(200);
    expect(await aws.waitFor('user:offline', (p) => p.userId === b.id)).toEqual({ userId: b.id, lastOnline: null });
    expect(await bws.waitFor('user:offline', (p) => p.userId === a.id)).toEqual({ userId: a.id, lastOnline: null });
    await two.http().delete(`/api/users/${a.id}/block`).set(b.auth).expect(200);
    expect(await aws.waitFor('user:online', (p) => p.userId === b.id)).toEqual({ userId: b.id });
    aws.close();
    bws.close();
  });
});
