import { image, pdf } from '../support/media-fixtures';
import { randomUUID } from 'node:crypto';
import { newId } from '../../src/core/database/ids';
import { PresenceStore } from '../../src/realtime/presence/presence-store';
import { UsersService } from '../../src/users/users.service';
import { UsersRepository } from '../../src/users/users.repository';
import { InactiveAccounts } from '../../src/users/inactive-accounts';
import { eventually, signIn, signUp, TestUser, uniqueNickname } from '../support/factories';
import { connect, createGroup, openDirect, send } from '../support/chats';
import { Client } from 'pg';
import { TEST_DATABASE_URL } from '../support/env';
import { createTestApp, TestApp } from '../support/test-app';
import { WsClient } from '../support/ws-client';
import { holdFirstCall, lockWaiters } from '../support/races';

describe('users', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  const get = (user: TestUser, path: string) => t.http().get(path).set(user.auth);
  const patchMe = (user: TestUser, body: object) => t.http().patch('/api/users/me').set(user.auth).send(body);
  const putSettings = (user: TestUser, body: unknown) => t.http().put('/api/users/me/settings').set(user.auth).send(body as object);
  /** Marks a user online through the presence port (the socket presence wiring is another feature's). */
  const goOnline = (user: TestUser) => t.app.get(PresenceStore).connect(user.id, randomUUID(), 60_000);

  /** A chat made with SQL, members joining one second apart in the order given. */
  async function chat(type: 'DIRECT' | 'SECRET' | 'GROUP', members: Array<[TestUser, 'OWNER' | 'ADMIN' | 'MEMBER']>): Promise<string> {
    const id = newId();
    const pairKey = type === 'GROUP' ? null : `${type}:${members.map(([u]) => u.id).sort().join(':')}`;
    await t.backend.sql(`INSERT INTO chats (id, type, name, pair_key) VALUES ($1, $2, $3, $4)`, [id, type, type === 'GROUP' ? 'group' : null, pairKey]);
    for (const [index, [user, role]] of members.entries()) {
      await t.backend.sql(`INSERT INTO chat_members (chat_id, user_id, id, role, joined_at) VALUES ($1, $2, $3, $4, now() - make_interval(secs => $5))`, [
        id,
        user.id,
        newId(),
        role,
        100 - index,
      ]);
    }
    return id;
  }

  async function message(chatId: string, sender: TestUser, text: string): Promise<string> {
    const id = newId();
    await t.backend.sql(`UPDATE chats SET message_seq = message_seq + 1, last_message_id = $2 WHERE id = $1`, [chatId, id]);
    await t.backend.sql(`INSERT INTO messages (id, chat_id, sender_id, seq, type, text) SELECT $1, id, $3, message_seq, 'TEXT', $4 FROM chats WHERE id = $2`, [id, chatId, sender.id, text]);
    return id;
  }

  describe('profiles', () => {
    it('answers GET /me with the full profile, email included', async () => {
      const user = await signUp(t);
      const res = await get(user, '/api/users/me').expect(200);
      expect(res.body).toEqual({
        success: true,
        data: { id: user.id, email: user.email, nickname: user.nickname, firstName: null, lastName: null, avatar: null, bio: null, isOnline: false, lastOnline: null },
      });
    });

    it('answers GET /:id with the public profile, never the email', async () => {
      const [viewer, target] = [await signUp(t), await signUp(t)];
      const res = await get(viewer, `/api/users/${target.id}`).expect(200);
      expect(res.body.data).toMatchObject({ id: target.id, nickname: target.nickname, isOnline: false, lastOnline: null });
      expect(res.body.data).not.toHaveProperty('email');
    });

    it('answers USER_NOT_FOUND for an unknown or malformed id', async () => {
      const viewer = await signUp(t);
      for (const id of [newId(), 'not-a-uuid', '123']) {
        const res = await get(viewer, `/api/users/${id}`).expect(404);
        expect(res.body).toMatchObject({ success: false, code: 'USER_NOT_FOUND' });
      }
    });

    it('requires a session', async () => {
      await t.http().get('/api/users/me').expect(401);
      await t.http().get('/api/users/search?q=abc').expect(401);
    });

    it('shows presence by default, and hides it once the target turns showOnlineStatus off', async () => {
      const [viewer, target] = [await signUp(t), await signUp(t)];
      await goOnline(target);
      expect((await get(viewer, `/api/users/${target.id}`).expect(200)).body.data.isOnline).toBe(true);
      await t.backend.sql(`UPDATE users SET last_online_at = now() WHERE id = $1`, [target.id]);
      expect((await get(viewer, `/api/users/${target.id}`).expect(200)).body.data.lastOnline).toEqual(expect.any(String));

      await putSettings(target, { showOnlineStatus: false }).expect(200);
      const hidden = await get(viewer, `/api/users/${target.id}`).expect(200);
      expect(hidden.body.data).toMatchObject({ isOnline: false, lastOnline: null });
      expect((await get(target, '/api/users/me').expect(200)).body.data.isOnline).toBe(true);
    });

    it("shows presence at the 'contacts' level only to users the target has added", async () => {
      const [target, contact, stranger] = [await signUp(t), await signUp(t), await signUp(t)];
      await goOnline(target);
      await putSettings(target, { showOnlineStatus: 'contacts' }).expect(200);
      await t.http().post(`/api/contacts/${contact.id}`).set(target.auth).expect(200);
      expect((await get(contact, `/api/users/${target.id}`)).body.data.isOnline).toBe(true);
      expect((await get(stranger, `/api/users/${target.id}`)).body.data.isOnline).toBe(false);
      await putSettings(target, { showOnlineStatus: 'nobody' }).expect(200);
      expect((await get(contact, `/api/users/${target.id}`)).body.data.isOnline).toBe(false);
    });

    it('hides presence from users the target has blocked', async () => {
      const [target, blocked] = [await signUp(t), await signUp(t)];
      await goOnline(target);
      expect((await get(blocked, `/api/users/${target.id}`)).body.data.isOnline).toBe(true);
      await t.http().post(`/api/users/${blocked.id}/block`).set(target.auth).expect(200);
      expect((await get(blocked, `/api/users/${target.id}`)).body.data).toMatchObject({ isOnline: false, lastOnline: null });
    });
  });

  describe('PATCH /me', () => {
    it('updates every field, clears with null, and counts the bio in characters', async () => {
      const user = await signUp(t);
      const nickname = uniqueNickname('New.');
      const bio = '🙂'.repeat(70);
      const upload = await t.http().post('/api/upload').set(user.auth).attach('file', await image('png'), 'me.png').expect(201);
      const avatar = upload.body.data.url;
      const res = await patchMe(user, { nickname, firstName: 'Анна', lastName: 'Li', avatar, bio }).expect(200);
      expect(res.body.data).toMatchObject({ id: user.id, email: user.email, nickname, firstName: 'Анна', lastName: 'Li', avatar, bio });
      const cleared = await patchMe(user, { avatar: null, bio: null, lastName: '' }).expect(200);
      expect(cleared.body.data).toMatchObject({ nickname, firstName: 'Анна', lastName: null, avatar: null, bio: null });
      const [row] = await t.backend.sql('SELECT nickname, first_name, avatar FROM users WHERE id = $1', [user.id]);
      expect(row).toEqual({ nickname, first_name: 'Анна', avatar: null });
    });

    it('keeps names free of control characters; a name with nothing visible left is none (the nickname stands in), a group without one is refused', async () => {
      const [user, other] = [await signUp(t), await signUp(t)];
      const res = await patchMe(user, { firstName: '\u200b\u2060', lastName: '\u202e\u2066' }).expect(200);
      expect(res.body.data).toMatchObject({ firstName: null, lastName: null });
      expect((await patchMe(user, { firstName: 'a\u001b[31mred\r\nX\u202E' }).expect(200)).body.data.firstName).toBe('a[31mredX');
      expect(await t.backend.sql('SELECT first_name, last_name FROM users WHERE id = $1', [user.id])).toEqual([{ first_name: 'a[31mredX', last_name: null }]);
      for (const name of ['\u200b\u200b', '\u3164']) {
        const refused = await t.http().post('/api/chats/group').set(user.auth).send({ name, memberIds: [other.id] }).expect(422);
        expect(refused.body.code).toBe('VALIDATION_ERROR');
      }
      const chatId = (await t.http().post('/api/chats/group').set(user.auth).send({ name: '\u202eTeam\u0007', memberIds: [other.id] }).expect(201)).body.data.id;
      expect(await t.backend.sql('SELECT name FROM chats WHERE id = $1', [chatId])).toEqual([{ name: 'Team' }]);
      expect((await t.http().patch(`/api/chats/${chatId}`).set(user.auth).send({ name: '\ufeff' }).expect(422)).body.code).toBe('VALIDATION_ERROR');
    });

    it("refuses an avatar that is not an image the user uploaded with MEDIA_NOT_FOUND", async () => {
      const [user, other] = await Promise.all([signUp(t), signUp(t)]);
      const theirs = (await t.http().post('/api/upload').set(other.auth).attach('file', await image('png'), 'x.png').expect(201)).body.data.url;
      const ownPdf = (await t.http().post('/api/upload').set(user.auth).attach('file', pdf(), 'x.pdf').expect(201)).body.data.url;
      for (const avatar of [theirs, ownPdf, '/uploads/never-uploaded.png']) {
        expect((await patchMe(user, { avatar }).expect(422)).body.code).toBe('MEDIA_NOT_FOUND');
      }
    });

    it('refuses bad values with VALIDATION_ERROR naming the field', async () => {
      const user = await signUp(t);
      const cases: Array<[object, string]> = [
        [{ nickname: 'ab' }, 'nickname'],
        [{ nickname: '1abcdef' }, 'nickname'],
        [{ nickname: 'abc_def' }, 'nickname'],
        [{ nickname: null }, 'nickname'],
        [{ firstName: 'x'.repeat(65) }, 'firstName'],
        [{ lastName: 42 }, 'lastName'],
        [{ bio: '🙂'.repeat(71) }, 'bio'],
        [{ avatar: 'https://evil.example/a.png' }, 'avatar'],
        [{ avatar: '/uploads/../etc/passwd' }, 'avatar'],
        [{ email: 'new@example.com' }, 'email'],
      ];
      for (const [body, field] of cases) {
        const res = await patchMe(user, body).expect(422);
        expect(res.body).toMatchObject({ code: 'VALIDATION_ERROR', errors: { [field]: expect.any(Array) } });
      }
    });

    it('answers NICKNAME_TAKEN for a nickname taken in another case, and allows changing the case of your own', async () => {
      const [user, other] = [await signUp(t), await signUp(t)];
      const res = await patchMe(user, { nickname: other.nickname.toUpperCase() }).expect(409);
      expect(res.body).toMatchObject({ code: 'NICKNAME_TAKEN' });
      const own = `${user.nickname[0].toUpperCase()}${user.nickname.slice(1)}`;
      expect((await patchMe(user, { nickname: own }).expect(200)).body.data.nickname).toBe(own);
    });

    it('gives one of two racing users the nickname and the other NICKNAME_TAKEN', async () => {
      const [a, b] = [await signUp(t), await signUp(t)];
      const nickname = uniqueNickname('race');
      const statuses = (await Promise.all([patchMe(a, { nickname }), patchMe(b, { nickname })])).map((r) => r.status).sort();
      expect(statuses).toEqual([200, 409]);
    });

    it('publishes user:updated to chat partners and to the user, not to strangers', async () => {
      const [user, partner, stranger] = [await signUp(t), await signUp(t), await signUp(t)];
      await chat('GROUP', [
        [partner, 'OWNER'],
        [user, 'MEMBER'],
      ]);
      const [partnerWs, ownWs, strangerWs] = await Promise.all([t.ws({ cookie: partner.cookie }), t.ws({ cookie: user.cookie }), t.ws({ cookie: stranger.cookie })]);
      await Promise.all([partnerWs.waitFor('auth:ok'), ownWs.waitFor('auth:ok'), strangerWs.waitFor('auth:ok')]);

      await patchMe(user, { bio: 'hello there' }).expect(200);
      const event = await partnerWs.waitFor('user:updated', (p) => p.id === user.id);
      expect(event).toMatchObject({ id: user.id, nickname: user.nickname, bio: 'hello there' });
      expect(event).not.toHaveProperty('email');
      await ownWs.waitFor('user:updated', (p) => p.id === user.id);
      await strangerWs.expectNo('user:updated');
      // The same again is no change: no write, nobody told (the next event the partner gets is the next real change).
      const before = (await t.backend.sql('SELECT updated_at FROM users WHERE id = $1', [user.id]))[0].updated_at;
      expect((await patchMe(user, { bio: 'hello there', firstName: '' }).expect(200)).body.data).toMatchObject({ bio: 'hello there', firstName: null });
      expect((await t.backend.sql('SELECT updated_at FROM users WHERE id = $1', [user.id]))[0].updated_at).toEqual(before);
      await patchMe(user, { bio: 'changed' }).expect(200);
      expect(await partnerWs.waitFor('user:updated', (p) => p.id === user.id)).toMatchObject({ bio: 'changed' });
      for (const ws of [partnerWs, ownWs, strangerWs]) ws.close();
    });
  });

  describe('settings', () => {
    // Contract v2.2 §15: every key, privacy levels as strings, locale null until chosen.
    const DEFAULTS = {
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
      locale: null,
      autoDeleteMonths: 'never',
      voiceSpeed: 0,
    };

    it('returns every field with its default', async () => {
      const user = await signUp(t);
      expect((await get(user, '/api/users/me/settings').expect(200)).body).toEqual({ success: true, data: DEFAULTS });
    });

    it('merges partial updates, keeping earlier values, and stores them for every device', async () => {
      const user = await signUp(t);
      await putSettings(user, { fontSize: 'large', notifSound: false }).expect(200);
      const res = await putSettings(user, { chatWallpaper: 'dots', locale: 'ru' }).expect(200);
      expect(res.body.data).toEqual({ ...DEFAULTS, fontSize: 'large', notifSound: false, chatWallpaper: 'dots', locale: 'ru' });
      expect((await get(user, '/api/users/me/settings')).body.data).toEqual(res.body.data);
      const [row] = await t.backend.sql('SELECT settings FROM user_settings WHERE user_id = $1', [user.id]);
      expect(row.settings).toEqual({ fontSize: 'large', notifSound: false, chatWallpaper: 'dots', locale: 'ru' });
    });

    it("accepts the web client's privacy levels and its own extra keys", async () => {
      const user = await signUp(t);
      const body = { showOnlineStatus: 'contacts', showReadReceipts: 'nobody', 'ui.theme': 'night', messageTextSize: 15, compact_mode: true, lastTab: null };
      const res = await putSettings(user, body).expect(200);
      expect(res.body.data).toEqual({ ...DEFAULTS, ...body });
      await putSettings(user, { showOnlineStatus: 'all' }).expect(200);
    });

    it('refuses bad values, bad extra keys and non-objects with VALIDATION_ERROR, storing nothing', async () => {
      const user = await signUp(t);
      const cases: unknown[] = [
        { notifSound: 'yes' },
        { fontSize: 'huge' },
        { chatWallpaper: 'pink' },
        { locale: 'de' },
        { showOnlineStatus: 'friends' },
        { showReadReceipts: 1 },
        { extra: { nested: true } },
        { extra: [1, 2] },
        { extra: 'x'.repeat(257) },
        { 'bad key!': 1 },
        { ['k'.repeat(65)]: 1 },
        [{ fontSize: 'large' }],
      ];
      for (const body of cases) {
        const res = await putSettings(user, body).expect(422);
        expect(res.body).toMatchObject({ code: 'VALIDATION_ERROR', errors: expect.any(Object) });
      }
      expect((await get(user, '/api/users/me/settings')).body.data).toEqual(DEFAULTS);
    });

    it('keeps at most 64 extra keys', async () => {
      const user = await signUp(t);
      const many = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`k${i}`, i]));
      await putSettings(user, many).expect(200);
      expect((await putSettings(user, { oneMore: 1 }).expect(422)).body.code).toBe('VALIDATION_ERROR');
      await putSettings(user, { k0: 'changed', fontSize: 'small' }).expect(200);
    });

    it('takes at most 30 saves of showOnlineStatus or showAvatar a minute (each reaches every follower), then RATE_LIMIT; other keys go on', async () => {
      const user = await signUp(t);
      for (let i = 0; i < 30; i++) await putSettings(user, i % 2 ? { showAvatar: 'all' } : { showOnlineStatus: i % 4 ? 'all' : 'nobody' }).expect(200);
      const refused = await putSettings(user, { showOnlineStatus: 'contacts' }).expect(429);
      expect(refused.body).toMatchObject({ code: 'RATE_LIMIT', retryAfter: expect.any(Number) });
      expect((await get(user, '/api/users/me/settings')).body.data.showOnlineStatus).not.toBe('contacts');
      await putSettings(user, { theme: 'dark' }).expect(200);
    });
  });

  describe('blocking', () => {
    it('blocks and unblocks idempotently, and lists blocked users', async () => {
      const [user, target] = [await signUp(t), await signUp(t)];
      for (let i = 0; i < 2; i++) {
        expect((await t.http().post(`/api/users/${target.id}/block`).set(user.auth).expect(200)).body).toEqual({ success: true, data: { blocked: true } });
      }
      expect(await t.backend.sql('SELECT 1 FROM blocks WHERE blocker_id = $1 AND blocked_id = $2', [user.id, target.id])).toHaveLength(1);
      const list = await get(user, '/api/users/me/blocked?full=1').expect(200);
      expect(list.body.data).toEqual([expect.objectContaining({ id: target.id, nickname: target.nickname })]);
      expect(list.body.data[0]).not.toHaveProperty('email');
      // Without full=1 the ids, as the web client's profile checks them (data.includes(id)).
      for (const query of ['', '?full=0', '?full=false']) expect((await get(user, `/api/users/me/blocked${query}`).expect(200)).body.data).toEqual([target.id]);

      for (let i = 0; i < 2; i++) {
        expect((await t.http().delete(`/api/users/${target.id}/block`).set(user.auth).expect(200)).body.data).toEqual({ blocked: false });
      }
      expect((await get(user, '/api/users/me/blocked').expect(200)).body.data).toEqual([]);
    });

    it('lists the ids in the order of the full list, most recent first', async () => {
      const [user, first, second, third] = [await signUp(t), await signUp(t), await signUp(t), await signUp(t)];
      for (const target of [first, second, third]) await t.http().post(`/api/users/${target.id}/block`).set(user.auth).expect(200);
      // Two blocks in one instant: the order is still the same in both lists.
      await t.backend.sql(`UPDATE blocks SET created_at = (SELECT created_at FROM blocks WHERE blocker_id = $1 AND blocked_id = $2) WHERE blocker_id = $1 AND blocked_id = $3`, [user.id, second.id, third.id]);
      const full = (await get(user, '/api/users/me/blocked?full=1').expect(200)).body.data as Array<{ id: string }>;
      expect(full.map((u) => u.id)[2]).toBe(first.id);
      expect((await get(user, '/api/users/me/blocked').expect(200)).body.data).toEqual(full.map((u) => u.id));
    });

    it('refuses to block yourself with CANNOT_TARGET_SELF and unknown users with USER_NOT_FOUND', async () => {
      const user = await signUp(t);
      expect((await t.http().post(`/api/users/${user.id}/block`).set(user.auth).expect(422)).body.code).toBe('CANNOT_TARGET_SELF');
      expect((await t.http().delete(`/api/users/${user.id}/block`).set(user.auth).expect(422)).body.code).toBe('CANNOT_TARGET_SELF');
      for (const id of [newId(), 'nope']) {
        expect((await t.http().post(`/api/users/${id}/block`).set(user.auth).expect(404)).body.code).toBe('USER_NOT_FOUND');
        expect((await t.http().delete(`/api/users/${id}/block`).set(user.auth).expect(404)).body.code).toBe('USER_NOT_FOUND');
      }
    });

    it('refuses a malformed full flag on the blocked list', async () => {
      const user = await signUp(t);
      await get(user, '/api/users/me/blocked?full=maybe').expect(422);
    });
  });

  describe('privacy and block checks for other features', () => {
    it('answers presenceVisibleTo, hasBlocked and isBlockedEitherWay from settings, contacts and blocks', async () => {
      const users = t.app.get(UsersService);
      const [a, b, c] = [await signUp(t), await signUp(t), await signUp(t)];
      expect(await users.presenceVisibleTo(a.id, b.id)).toBe(true);

      await putSettings(a, { showOnlineStatus: 'contacts' }).expect(200);
      await t.http().post(`/api/contacts/${b.id}`).set(a.auth).expect(200);
      expect([await users.presenceVisibleTo(a.id, b.id), await users.presenceVisibleTo(a.id, c.id), await users.presenceVisibleTo(a.id, a.id)]).toEqual([true, false, true]);

      // A block hides presence both ways: the blocker does not watch the blocked user either.
      await t.http().post(`/api/users/${b.id}/block`).set(a.auth).expect(200);
      expect([await users.presenceVisibleTo(a.id, b.id), await users.presenceVisibleTo(b.id, a.id)]).toEqual([false, false]);
      expect([await users.hasBlocked(a.id, b.id), await users.hasBlocked(b.id, a.id)]).toEqual([true, false]);
      expect([await users.isBlockedEitherWay(a.id, b.id), await users.isBlockedEitherWay(b.id, a.id), await users.isBlockedEitherWay(a.id, c.id)]).toEqual([true, true, false]);
    });
  });

  describe('search', () => {
    it('lists prefix matches before other matches, case-insensitively, without the caller or users who blocked them', async () => {
      const tag = `q${randomUUID().replace(/-/g, '').slice(0, 8)}`;
      const caller = await signUp(t, { nickname: `${tag}Self` });
      const prefixB = await signUp(t, { nickname: `${tag.toUpperCase()}b` });
      const prefixA = await signUp(t, { nickname: `${tag}a` });
      const containsA = await signUp(t, { nickname: `a${tag}` });
      const containsB = await signUp(t, { nickname: `Bx${tag}` });
      const blocker = await signUp(t, { nickname: `${tag}blocker` });
      const blockedByCaller = await signUp(t, { nickname: `zz${tag}` });
      await t.http().post(`/api/users/${caller.id}/block`).set(blocker.auth).expect(200);
      await t.http().post(`/api/users/${blockedByCaller.id}/block`).set(caller.auth).expect(200);

      const res = await get(caller, `/api/users/search?q=${tag.toUpperCase()}`).expect(200);
      expect(res.body.data.map((u: { id: string }) => u.id)).toEqual([prefixA.id, prefixB.id, containsA.id, containsB.id, blockedByCaller.id]);
      expect(res.body.data[0]).toEqual(expect.objectContaining({ nickname: prefixA.nickname, isOnline: false }));
      expect(res.body.data[0]).not.toHaveProperty('email');
    });

    it('returns at most 20 users', async () => {
      const tag = `m${randomUUID().replace(/-/g, '').slice(0, 8)}`;
      const caller = await signUp(t);
      await Promise.all(Array.from({ length: 22 }, (_, i) => signUp(t, { nickname: `${tag}${String(i).padStart(2, '0')}` })));
      const res = await get(caller, `/api/users/search?q=${tag}`).expect(200);
      expect(res.body.data).toHaveLength(20);
      expect(res.body.data[0].nickname).toBe(`${tag}00`);
    });

    it('finds a part inside nicknames from 3 characters; shorter, only nicknames that begin with it; other characters find nobody', async () => {
      const caller = await signUp(t);
      const inner = await signUp(t, { nickname: `aqj${randomUUID().replace(/-/g, '').slice(0, 8)}` });
      const found = (await get(caller, '/api/users/search?q=qj').expect(200)).body.data as Array<{ id: string; nickname: string }>;
      expect(found.map((u) => u.id)).not.toContain(inner.id);
      for (const user of found) expect(user.nickname.toLowerCase().startsWith('qj')).toBe(true);
      expect((await get(caller, `/api/users/search?q=${inner.nickname.slice(1, 6)}`).expect(200)).body.data.map((u: { id: string }) => u.id)).toContain(inner.id);
      for (const q of ['---', 'a b', 'é', inner.nickname + '!']) expect((await get(caller, `/api/users/search?q=${encodeURIComponent(q)}`).expect(200)).body.data).toEqual([]);
    });

    it('matches wildcard characters literally', async () => {
      const caller = await signUp(t);
      expect((await get(caller, '/api/users/search?q=%25').expect(200)).body.data).toEqual([]);
      expect((await get(caller, '/api/users/search?q=_').expect(200)).body.data).toEqual([]);
    });

    it('refuses an empty, missing or too long query with VALIDATION_ERROR', async () => {
      const caller = await signUp(t);
      for (const path of ['/api/users/search', '/api/users/search?q=', `/api/users/search?q=${'a'.repeat(33)}`]) {
        const res = await get(caller, path).expect(422);
        expect(res.body).toMatchObject({ code: 'VALIDATION_ERROR', errors: { q: expect.any(Array) } });
      }
    });
  });

  describe('DELETE /me', () => {
    it('deletes the account and everything of it; partners get chat:deleted, groups pass on; the email signs up anew', async () => {
      const [user, partner, secretPartner, admin, member, other] = await Promise.all([signUp(t), signUp(t), signUp(t), signUp(t), signUp(t), signUp(t)]);
      const direct = await chat('DIRECT', [
        [user, 'MEMBER'],
        [partner, 'MEMBER'],
      ]);
      const secret = await chat('SECRET', [
        [secretPartner, 'MEMBER'],
        [user, 'MEMBER'],
      ]);
      const ownedWithAdmin = await chat('GROUP', [
        [user, 'OWNER'],
        [member, 'MEMBER'],
        [admin, 'ADMIN'],
      ]);
      const ownedMembersOnly = await chat('GROUP', [
        [user, 'OWNER'],
        [member, 'MEMBER'],
        [other, 'MEMBER'],
      ]);
      const alone = await chat('GROUP', [[user, 'OWNER']]);
      const joined = await chat('GROUP', [
        [other, 'OWNER'],
        [user, 'MEMBER'],
      ]);
      const kept = await message(joined, other, 'stays');
      await message(joined, user, 'goes');
      const othersMessage = await message(direct, partner, 'hi');
      await t.backend.sql(`INSERT INTO reactions (id, message_id, user_id, emoji) VALUES ($1, $2, $3, '👍')`, [newId(), othersMessage, user.id]);
      await t.http().post(`/api/contacts/${partner.id}`).set(user.auth).expect(200);
      await t.http().post(`/api/contacts/${user.id}`).set(partner.auth).expect(200);
      await t.http().post(`/api/users/${other.id}/block`).set(user.auth).expect(200);
      await t.http().post(`/api/users/${user.id}/block`).set(member.auth).expect(200);
      await putSettings(user, { fontSize: 'large' }).expect(200);
      const file = (await t.http().post('/api/upload').set(user.auth).attach('file', pdf(), 'cv.pdf').expect(201)).body.data.url;
      await t.http().get(file).expect(200);

      const [ownWs, partnerWs, secretWs, memberWs] = await Promise.all([
        t.ws({ cookie: user.cookie }),
        t.ws({ cookie: partner.cookie }),
        t.ws({ cookie: secretPartner.cookie }),
        t.ws({ cookie: member.cookie }),
      ]);
      await Promise.all([ownWs.waitFor('auth:ok'), partnerWs.waitFor('auth:ok'), secretWs.waitFor('auth:ok'), memberWs.waitFor('auth:ok')]);

      expect((await t.http().delete('/api/users/me').set(user.auth).expect(200)).body).toEqual({ success: true, data: { deleted: true } });

      expect(await partnerWs.waitFor('chat:deleted', (p) => p.chatId === direct)).toEqual({ chatId: direct });
      expect(await secretWs.waitFor('chat:deleted', (p) => p.chatId === secret)).toEqual({ chatId: secret });
      expect((await ownWs.closed).code).toBe(4001);
      await t.http().get('/api/users/me').set(user.auth).expect(401);
      // remaining group members see the departed member gone and the new owner
      const updated = await memberWs.waitFor('chat:updated', (c) => c.id === ownedWithAdmin);
      expect(updated.members.map((m: { userId: string }) => m.userId)).not.toContain(user.id);
      expect(updated.members.find((m: { userId: string }) => m.userId === admin.id).role).toBe('OWNER');

      const count = async (sql: string) => (await t.backend.sql(sql, [user.id])).length;
      expect(await count('SELECT 1 FROM users WHERE id = $1')).toBe(0);
      for (const table of ['sessions', 'user_settings', 'chat_members', 'reactions']) expect(await count(`SELECT 1 FROM ${table} WHERE user_id = $1`)).toBe(0);
      expect(await count('SELECT 1 FROM contacts WHERE owner_id = $1 OR contact_id = $1')).toBe(0);
      expect(await count('SELECT 1 FROM blocks WHERE blocker_id = $1 OR blocked_id = $1')).toBe(0);
      expect(await count('SELECT 1 FROM messages WHERE sender_id = $1')).toBe(0);
      const chats = await t.backend.sql('SELECT id FROM chats WHERE id = ANY($1::uuid[])', [[direct, secret, ownedWithAdmin, ownedMembersOnly, alone, joined]]);
      expect(chats.map((c: { id: string }) => c.id).sort()).toEqual([ownedWithAdmin, ownedMembersOnly, joined].sort());
      const owners = await t.backend.sql(`SELECT chat_id, user_id FROM chat_members WHERE role = 'OWNER' AND chat_id = ANY($1::uuid[])`, [[ownedWithAdmin, ownedMembersOnly]]);
      expect(owners).toEqual(expect.arrayContaining([{ chat_id: ownedWithAdmin, user_id: admin.id }, { chat_id: ownedMembersOnly, user_id: member.id }]));
      expect(owners).toHaveLength(2);
      expect((await t.backend.sql('SELECT last_message_id FROM chats WHERE id = $1', [joined]))[0].last_message_id).toBe(kept);

      // the files go too, by a job that waits for the account to be gone
      await eventually(async () => {
        await t.drainJobs();
        await t.http().get(file).expect(404);
      }, 15_000);

      const again = await signUp(t, { email: user.email });
      expect(again.id).not.toBe(user.id);
      for (const ws of [partnerWs, secretWs, memberWs]) ws.close();
    });

    it('tells the members of the groups it wrote in that its messages went (its newest 100 of each, older ones no replay can show left out), with the last message left', async () => {
      const [user, other] = await Promise.all([signUp(t), signUp(t)]);
      const group = await chat('GROUP', [
        [other, 'OWNER'],
        [user, 'MEMBER'],
      ]);
      // A group the user wrote in and had left since.
      const left = await chat('GROUP', [[other, 'OWNER']]);
      const kept = await message(group, other, 'stays');
      const theirs: string[] = [];
      for (let i = 0; i < 101; i++) theirs.push(await message(group, user, `goes ${i}`));
      // Older than the event log keeps (24 h): no member's replay can show it, and it is not among the newest 100.
      await t.backend.sql(`UPDATE messages SET created_at = now() - interval '2 days' WHERE id = $1`, [theirs[0]]);
      const wroteInLeft = await message(left, user, 'written before leaving');
      const otherWs = await t.ws({ cookie: other.cookie });
      await otherWs.waitFor('auth:ok');

      await t.http().delete('/api/users/me').set(user.auth).expect(200);

      expect(await otherWs.waitFor('message:deleted', (p) => p.messageId === theirs[100])).toEqual({
        messageId: theirs[100],
        chatId: group,
        newLastMessage: expect.objectContaining({ id: kept, text: 'stays' }),
      });
      expect(await otherWs.waitFor('message:deleted', (p) => p.messageId === wroteInLeft)).toEqual({ messageId: wroteInLeft, chatId: left, newLastMessage: null });
      const told = otherWs.logged().filter((f) => f.event === 'message:deleted' && (f.payload as { chatId: string }).chatId === group);
      expect(told.map((f) => (f.payload as { messageId: string }).messageId)).toEqual(theirs.slice(1));
      otherWs.close();
    });

    /** The rest of a send held in `sending` (its chat locked): the message of `senderId` stored as a send batch stores it, then the commit. */
    const finishSend = async (sending: Client, chatId: string, senderId: string) => {
      await sending.query(
        `WITH s AS (UPDATE chats SET message_seq = message_seq + 1 WHERE id = $1 RETURNING message_seq)
         INSERT INTO messages (id, chat_id, sender_id, seq, type, text) SELECT gen_random_uuid(), $1, $2, s.message_seq, 'TEXT', 'in flight' FROM s`,
        [chatId, senderId],
      );
      await sending.query('COMMIT');
    };

    // Two connections at once: PGlite (the embedded mode) runs one statement at a time.
    (TEST_DATABASE_URL ? it : it.skip)('lets a send of the user in flight finish, then deletes the account with it (no deadlock, no 500)', async () => {
      const [user, member] = [await signUp(t), await signUp(t)];
      const groupId = await createGroup(t, user, [member]);
      const sending = new Client({ connectionString: t.backend.env.DATABASE_URL });
      await sending.connect();
      try {
        // As a send batch does it: its chat's row locked first, the message (whose foreign key
        // share-locks the sender's row) inserted after.
        await sending.query('BEGIN');
        await sending.query('SELECT 1 FROM chats WHERE id = $1 FOR UPDATE', [groupId]);
        const deleting = t.http().delete('/api/users/me').set(user.auth).then((res) => res);
        await lockWaiters(t);
        await finishSend(sending, groupId, user.id);
        const res = await deleting;
        expect([res.status, res.body]).toEqual([200, { success: true, data: { deleted: true } }]);
        expect(await t.backend.sql('SELECT 1 FROM users WHERE id = $1', [user.id])).toEqual([]);
        expect(await t.backend.sql('SELECT 1 FROM messages WHERE sender_id = $1', [user.id])).toEqual([]);
      } finally {
        await sending.end();
      }
    });

    // Two connections at once: PGlite (the embedded mode) runs one statement at a time.
    (TEST_DATABASE_URL ? it : it.skip)('lets a send of the user in a chat opened during the deletion finish too, starting the deletion again', async () => {
      const [user, partner] = [await signUp(t), await signUp(t)];
      const held = holdFirstCall(UsersRepository.prototype, 'membershipsOf');
      const sending = new Client({ connectionString: t.backend.env.DATABASE_URL });
      await sending.connect();
      try {
        // The deletion has locked the chats it found; a direct chat with the user is opened now.
        const deleting = t.http().delete('/api/users/me').set(user.auth).then((res) => res);
        await eventually(async () => expect(held.calls()).toBe(1));
        const chatId = await openDirect(t, partner, user);
        // A send of the user's in it takes the chat's lock, then (its foreign key) their row's.
        await sending.query('BEGIN');
        await sending.query('SELECT 1 FROM chats WHERE id = $1 FOR UPDATE', [chatId]);
        held.release();
        await lockWaiters(t);
        await finishSend(sending, chatId, user.id);
        const res = await deleting;
        expect([res.status, res.body]).toEqual([200, { success: true, data: { deleted: true } }]);
        expect(await t.backend.sql('SELECT 1 FROM chats WHERE id = $1', [chatId])).toEqual([]);
      } finally {
        held.restore();
        await sending.end();
      }
    });

    it('tells the members of a group the user had left, whose last message was theirs, what it shows now', async () => {
      const [user, owner, member] = [await signUp(t), await signUp(t), await signUp(t)];
      const groupId = await createGroup(t, owner, [user, member]);
      const [ows, uws] = [await connect(t, owner), await connect(t, user)];
      const earlier = await send(ows, groupId, 'earlier');
      const theirs = await send(uws, groupId, 'the last word');
      await t.http().delete(`/api/chats/${groupId}/leave`).set(user.auth).expect(200);
      const mws = await connect(t, member);
      await t.http().delete('/api/users/me').set(user.auth).expect(200);
      const update = await mws.waitFor('chat:updated', (c) => c.id === groupId && c.lastMessage?.id !== theirs.id);
      expect(update.lastMessage).toMatchObject({ id: earlier.id, text: 'earlier' });
      const [row] = await t.backend.sql<{ at: string; created: string }>(
        `SELECT c.last_activity_at AS at, m.created_at AS created FROM chats c JOIN messages m ON m.id = c.last_message_id WHERE c.id = $1`,
        [groupId],
      );
      expect(new Date(row.at).getTime()).toBe(new Date(row.created).getTime());
      for (const ws of [ows, uws, mws]) ws.close();
    });

    it('answers a repeat that waited while the first deletion committed as deleted too (not 404 USER_NOT_FOUND), clearing its cookie', async () => {
      const user = await signUp(t);
      // The first deletion has deleted the row and holds it, uncommitted, while the repeat (a double click, a retry) comes in.
      const held = holdFirstCall(UsersRepository.prototype, 'deleteUser');
      try {
        const first = t.http().delete('/api/users/me').set(user.browser).then((res) => res);
        await eventually(async () => expect(held.calls()).toBe(1));
        const repeat = t.http().delete('/api/users/me').set(user.browser).then((res) => res);
        // PGlite runs one statement at a time: there the repeat waits for the connection, not a lock.
        if (TEST_DATABASE_URL) await lockWaiters(t);
        else await new Promise((resolve) => setTimeout(resolve, 300));
        held.release();
        for (const res of await Promise.all([first, repeat])) {
          expect([res.status, res.body]).toEqual([200, { success: true, data: { deleted: true } }]);
          expect([res.headers['set-cookie']].flat().some((c) => typeof c === 'string' && /^h2v_session=;/.test(c))).toBe(true);
        }
      } finally {
        held.restore();
      }
      expect(await t.backend.sql('SELECT 1 FROM users WHERE id = $1', [user.id])).toEqual([]);
    });

    it("clears a browser's session cookie, rather than setting it again for a session that went with the account", async () => {
      const user = await signUp(t);
      const res = await t.http().delete('/api/users/me').set(user.browser).expect(200);
      const cookies = [res.headers['set-cookie']].flat().filter((c) => typeof c === 'string' && c.startsWith('h2v_session='));
      expect(cookies).toEqual([expect.stringMatching(/^h2v_session=;.*Expires=Thu, 01 Jan 1970/)]);
    });
  });

  describe('autoDeleteMonths (v2.2 §15)', () => {
    const setting = (user: TestUser, months: string) => t.http().put('/api/users/me/settings').set(user.auth).send({ autoDeleteMonths: months }).expect(200);
    const unusedFor = (user: TestUser, interval: string) => t.backend.sql(`UPDATE users SET last_active_at = now() - $2::interval WHERE id = $1`, [user.id, interval]);
    const exists = async (user: TestUser) => (await t.backend.sql('SELECT 1 FROM users WHERE id = $1', [user.id])).length === 1;

    it('deletes, at its daily run, the accounts unused for longer than their setting, as DELETE /me does; keeps the others', async () => {
      const [due, notYet, never, active, partner] = await Promise.all([signUp(t), signUp(t), signUp(t), signUp(t), signUp(t)]);
      await Promise.all([setting(due, '1'), setting(notYet, '3'), setting(never, 'never'), setting(active, '1')]);
      await unusedFor(due, '40 days');
      await unusedFor(notYet, '70 days');
      await unusedFor(never, '3 years');
      const chatId = (await t.http().post('/api/chats/direct').set(due.auth).send({ targetUserId: partner.id }).expect(200)).body.data.id;
      const partnerWs = await connect(t, partner);
      await t.backend.sql(`UPDATE users SET last_active_at = now() - interval '40 days' WHERE id = $1`, [due.id]);

      expect(await t.app.get(InactiveAccounts).run()).toBeGreaterThanOrEqual(1);
      expect(await exists(due)).toBe(false);
      expect([await exists(notYet), await exists(never), await exists(active)]).toEqual([true, true, true]);
      // As DELETE /me: the direct chat goes, and the partner is told.
      expect(await t.backend.sql('SELECT 1 FROM chats WHERE id = $1', [chatId])).toEqual([]);
      expect(await partnerWs.waitFor('chat:deleted', (p) => p.chatId === chatId)).toEqual({ chatId });
      partnerWs.close();
    });

    it('counts a new session as use: signing in again keeps the account', async () => {
      const user = await signUp(t);
      await setting(user, '1');
      await unusedFor(user, '40 days');
      await signIn(t, user.email);
      expect(await t.app.get(InactiveAccounts).run()).toBe(0);
      expect(await exists(user)).toBe(true);
    });
  });

  describe('GET /api/users/public/:nickname (v2.2 §13)', () => {
    const lookup = (nickname: string) => t.http().get(`/api/users/public/${nickname}`);

    it('answers anyone, signed in or not, with {id, nickname, firstName, lastName, avatar, bio}, the nickname in any case', async () => {
      const user = await signUp(t);
      const avatar = (await t.http().post('/api/upload').set(user.auth).attach('file', await image('png'), 'me.png').expect(201)).body.data.url;
      await patchMe(user, { firstName: 'Ada', lastName: 'L', bio: 'hi', avatar }).expect(200);
      const expected = { success: true, data: { id: user.id, nickname: user.nickname, firstName: 'Ada', lastName: 'L', avatar, bio: 'hi' } };
      expect((await lookup(user.nickname.toUpperCase()).expect(200)).body).toEqual(expected);
      // Never 401, whatever credentials come along.
      expect((await lookup(user.nickname).set('Authorization', 'Bearer not-a-session').expect(200)).body).toEqual(expected);
      expect((await lookup(user.nickname).set('Cookie', 'h2v_session=expired').expect(200)).body).toEqual(expected);
      expect((await lookup(user.nickname).set(user.auth).expect(200)).body).toEqual(expected);
    });

    it('shows the avatar only when showAvatar is all', async () => {
      const [user, contact] = [await signUp(t), await signUp(t)];
      const avatar = (await t.http().post('/api/upload').set(user.auth).attach('file', await image('png'), 'me.png').expect(201)).body.data.url;
      await patchMe(user, { avatar }).expect(200);
      await t.http().post(`/api/contacts/${contact.id}`).set(user.auth).expect(200);
      for (const [level, shown] of [['contacts', null], ['nobody', null], [false, null], ['all', avatar], [true, avatar]] as const) {
        await putSettings(user, { showAvatar: level }).expect(200);
        // Signed in as a contact changes nothing: the route has no viewer.
        for (const req of [lookup(user.nickname), lookup(user.nickname).set(contact.auth)]) expect((await req.expect(200)).body.data.avatar).toBe(shown);
      }
    });

    it('answers 404 USER_NOT_FOUND for an unknown nickname and for anything that cannot be one', async () => {
      for (const nickname of [uniqueNickname('nobody'), 'x'.repeat(33), 'a%20bcdef', '%E2%98%83', "a'%3B--x", 'a.b%25']) {
        const res = await lookup(nickname).expect(404);
        expect(res.body).toEqual({ success: false, code: 'USER_NOT_FOUND', message: expect.any(String) });
      }
      // A NUL in any path segment is refused by the app-wide input rule before any route runs.
      expect((await lookup('a%00bcdef').expect(422)).body.code).toBe('VALIDATION_ERROR');
    });
  });

  describe('user:updated (v2.2 §13)', () => {
    /**
     * Resolves once every event published to `user` before the call has reached `ws`: the user's
     * own user:updated travels the same bus after them. What did not arrive by then was not sent.
     */
    async function settle(user: TestUser, ws: WsClient): Promise<void> {
      const marker = `settle ${randomUUID()}`;
      await patchMe(user, { bio: marker }).expect(200);
      await ws.waitFor('user:updated', (p) => p.id === user.id && p.bio === marker);
    }
    const updatesAbout = (ws: WsClient, user: TestUser) => ws.frames.filter((f) => f.event === 'user:updated' && f.payload.id === user.id);

    it('leaves chat partners on the profile stored when two changes of it cross', async () => {
      const [user, partner] = await Promise.all([signUp(t), signUp(t)]);
      await createGroup(t, user, [partner], 'Names');
      const partnerWs = await connect(t, partner);
      // The first change has committed and waits, before telling, while the second commits and is told.
      const held = holdFirstCall(UsersRepository.prototype, 'chatPartnerIds');
      try {
        const first = patchMe(user, { firstName: 'Ann' }).expect(200).then((res) => res);
        await eventually(async () => expect(held.calls()).toBe(1));
        await patchMe(user, { firstName: 'Anna' }).expect(200);
        held.release();
        await first;
      } finally {
        held.restore();
      }
      const [stored] = await t.backend.sql<{ first_name: string }>('SELECT first_name FROM users WHERE id = $1', [user.id]);
      expect(stored.first_name).toBe('Anna');
      await eventually(async () => {
        const told = partnerWs.received.filter((f) => f.event === 'user:updated' && f.payload.id === user.id);
        expect(told[told.length - 1].payload.firstName).toBe('Anna');
      });
      partnerWs.close();
    });

    /**
     * `user` (showAvatar as given, with an avatar) in a group with `contact` (in the user's
     * contacts), `other` (not) and `blocked` (whom the user blocked); `stranger` shares no chat.
     * Everyone has a socket; the user has two.
     */
    async function scene(showAvatar: string) {
      const [user, contact, other, blocked, stranger] = await Promise.all([signUp(t), signUp(t), signUp(t), signUp(t), signUp(t)]);
      const avatar = (await t.http().post('/api/upload').set(user.auth).attach('file', await image('png'), 'me.png').expect(201)).body.data.url;
      await patchMe(user, { avatar }).expect(200);
      await t.http().post(`/api/contacts/${contact.id}`).set(user.auth).expect(200);
      await putSettings(user, { showAvatar }).expect(200);
      await createGroup(t, user, [contact, other, blocked], 'Avatars');
      await t.http().post(`/api/users/${blocked.id}/block`).set(user.auth).expect(200);
      const sockets = await Promise.all([user, user, contact, other, blocked, stranger].map((u) => connect(t, u)));
      const [own, ownOther, contactWs, otherWs, blockedWs, strangerWs] = sockets;
      return { user, contact, other, blocked, stranger, avatar, own, ownOther, contactWs, otherWs, blockedWs, strangerWs, sockets };
    }

    it("with showAvatar contacts: the user's own sockets and contacts get the avatar, other members avatar:null, blocked members and strangers nothing, nobody the email", async () => {
      const s = await scene('contacts');
      const next = (await t.http().post('/api/upload').set(s.user.auth).attach('file', await image('png'), 'new.png').expect(201)).body.data.url;
      await patchMe(s.user, { avatar: next, firstName: 'New' }).expect(200);

      const expected = { id: s.user.id, nickname: s.user.nickname, firstName: 'New', lastName: null, bio: null };
      for (const ws of [s.own, s.ownOther, s.contactWs]) expect(await ws.waitFor('user:updated', (p) => p.id === s.user.id)).toEqual({ ...expected, avatar: next });
      expect(await s.otherWs.waitFor('user:updated', (p) => p.id === s.user.id)).toEqual({ ...expected, avatar: null });
      await settle(s.blocked, s.blockedWs);
      await settle(s.stranger, s.strangerWs);
      expect(updatesAbout(s.blockedWs, s.user)).toEqual([]);
      expect(updatesAbout(s.strangerWs, s.user)).toEqual([]);
      for (const ws of s.sockets) ws.close();
    });

    it('with showAvatar nobody every other member gets avatar:null, with all every member gets it', async () => {
      for (const [level, visible] of [['nobody', false], ['all', true]] as const) {
        const s = await scene(level);
        await patchMe(s.user, { bio: `level ${level}` }).expect(200);
        expect((await s.own.waitFor('user:updated', (p) => p.id === s.user.id)).avatar).toBe(s.avatar);
        for (const ws of [s.contactWs, s.otherWs]) expect((await ws.waitFor('user:updated', (p) => p.id === s.user.id)).avatar).toBe(visible ? s.avatar : null);
        for (const ws of s.sockets) ws.close();
      }
    });

    it('tells the members what they may see when showAvatar changes: {id, avatar} as each sees it, nothing to the blocked', async () => {
      const s = await scene('all');
      await putSettings(s.user, { showAvatar: 'contacts' }).expect(200);
      expect(await s.contactWs.waitFor('user:updated', (p) => p.id === s.user.id)).toEqual({ id: s.user.id, avatar: s.avatar });
      expect(await s.otherWs.waitFor('user:updated', (p) => p.id === s.user.id)).toEqual({ id: s.user.id, avatar: null });
      await putSettings(s.user, { showAvatar: 'all' }).expect(200);
      expect(await s.otherWs.waitFor('user:updated', (p) => p.id === s.user.id)).toEqual({ id: s.user.id, avatar: s.avatar });
      // The same level again changes nothing, and says nothing.
      await putSettings(s.user, { showAvatar: true }).expect(200);
      await settle(s.other, s.otherWs);
      await settle(s.blocked, s.blockedWs);
      expect(updatesAbout(s.otherWs, s.user)).toEqual([]);
      expect(updatesAbout(s.blockedWs, s.user)).toEqual([]);
      for (const ws of s.sockets) ws.close();
    });
  });
});

// Its own app, after the one above has closed: embedded PGlite is one database per process.
describe('GET /api/users/public/:nickname at its real limit', () => {
  let limited: TestApp;
  beforeAll(async () => (limited = await createTestApp({ env: { RATE_LIMIT_PUBLIC_PROFILE: '5/60' } })));
  afterAll(() => limited.close());

  it('counts lookups per client address, found or not, and answers the sixth in a minute with 429 RATE_LIMIT', async () => {
    const user = await signUp(limited);
    const statuses = [];
    for (const nickname of [user.nickname, uniqueNickname('nobody'), user.nickname, 'bad%20name', user.nickname]) {
      statuses.push((await limited.http().get(`/api/users/public/${nickname}`).set(user.auth)).status);
    }
    expect(statuses).toEqual([200, 404, 200, 404, 200]);
    const refused = await limited.http().get(`/api/users/public/${user.nickname}`);
    expect({ status: refused.status, code: refused.body.code }).toEqual({ status: 429, code: 'RATE_LIMIT' });
    expect(refused.body.retryAfter).toBeGreaterThan(0);
    expect(refused.headers['retry-after']).toBe(String(refused.body.retryAfter));
    // Other routes keep their own budget.
    await limited.http().get('/api/users/me').set(user.auth).expect(200);
  });
});
