import { randomBytes, randomUUID } from 'node:crypto';
import { connect, createGroup, openDirect, send } from '../support/chats';
import { signUp, TestUser, uniqueEmail } from '../support/factories';
import { createTestApp, TestApp } from '../support/test-app';
import { WsClient } from '../support/ws-client';

const NUL = '\u0000';
const LONE_HIGH = '\uD83D';
const LONE_LOW = '\uDE00';
/** `[[[ … ]]]` nested `depth` levels, as a JSON text (JSON.stringify of it would recurse as deep). */
const deepJson = (depth: number, inner = '1') => '['.repeat(depth) + inner + ']'.repeat(depth);
const key = (): string => Buffer.concat([Buffer.from([0x05]), randomBytes(32)]).toString('base64');

const refused = (field: string) => ({
  success: false,
  code: 'VALIDATION_ERROR',
  message: expect.any(String),
  errors: expect.objectContaining({ [field]: [expect.any(String)] }),
});

/**
 * The input rule (no NUL, no unpaired surrogate, no deep nesting, no wrong shape) holds for every
 * way in: each hostile value below used to reach PostgreSQL or class-transformer and answer 500.
 */
describe('input hygiene', () => {
  let t: TestApp;
  let user: TestUser;
  let other: TestUser;
  let chatId: string;
  let groupId: string;
  let messageId: string;
  let ws: WsClient;

  beforeAll(async () => {
    // Log capture needs the first app of its file (the process keeps the first app's logger).
    t = await createTestApp({ captureLogs: true });
    [user, other] = [await signUp(t), await signUp(t)];
    chatId = await openDirect(t, user, other);
    groupId = await createGroup(t, user, [other]);
    ws = await connect(t, user);
    messageId = (await send(ws, chatId, 'hello')).id;
  });
  afterAll(async () => {
    // Refusals are answers, not faults: nothing was logged as an error, and no stack anywhere.
    const faults = t.logs.filter((line) => /"level":(50|60)|"stack"|\\n\s+at /.test(line));
    ws.close();
    await t.close();
    expect(faults).toEqual([]);
  });

  describe('over HTTP, without a session', () => {
    it.each([
      ['a NUL in the email', { email: `a${NUL}b@example.com` }, 'email'],
      ['an unpaired high surrogate in the email', { email: `a${LONE_HIGH}@example.com` }, 'email'],
      ['an unpaired low surrogate in the email', { email: `${LONE_LOW}a@example.com` }, 'email'],
      ['a quoted local part the mailer refuses', { email: '"john doe"@example.com' }, 'email'],
      ['a quoted local part the mailer rewrites', { email: '"john"@example.com' }, 'email'],
    ])('refuses send-otp with %s as 422 VALIDATION_ERROR', async (_name, body, field) => {
      const res = await t.http().post('/api/auth/send-otp').send(body);
      expect(res.status).toBe(422);
      expect(res.body).toEqual(refused(field));
    });

    it('refuses a NUL under a field named constructor, in a body or a query, on a route that takes neither', async () => {
      const body = await t.http().post('/api/auth/logout').set('Content-Type', 'application/json').send('{"constructor":"\\u0000"}');
      expect(body.status).toBe(422);
      expect(body.body).toEqual(refused('constructor'));
      const query = await t.http().delete('/api/users/me?constructor=%00');
      expect(query.status).toBe(422);
      expect(query.body).toEqual(refused('constructor'));
    });

    it('refuses verify-otp with an unpaired surrogate in the email', async () => {
      const res = await t.http().post('/api/auth/verify-otp').send({ email: `x${LONE_HIGH}@example.com`, code: '123456' });
      expect(res.status).toBe(422);
      expect(res.body).toEqual(refused('email'));
    });

    it('refuses a body nested 1,500 levels deep before validating it', async () => {
      const res = await t.http().post('/api/auth/send-otp').set('Content-Type', 'application/json').send(`{"email":${deepJson(1500)}}`);
      expect(res.status).toBe(422);
      expect(res.body).toMatchObject({ success: false, code: 'VALIDATION_ERROR' });
      expect(Object.values(res.body.errors).flat().join(' ')).toMatch(/deeper than 32 levels/);
    });

    it('still sends a code to a plain address', async () => {
      const email = uniqueEmail();
      await t.http().post('/api/auth/send-otp').send({ email }).expect(200);
      expect(await t.backend.smtp.code(email)).toMatch(/^\d{6}$/);
    });
  });

  describe('over HTTP, with a session', () => {
    it.each([
      ['PATCH', '/api/users/me', { firstName: `Ann${NUL}` }, 'firstName'],
      ['PATCH', '/api/users/me', { bio: `hi ${LONE_LOW}` }, 'bio'],
      ['PUT', '/api/users/me/settings', { theme: `dark${NUL}` }, 'theme'],
      ['PUT', '/api/users/me/settings', { theme: `dark${LONE_HIGH}` }, 'theme'],
      ['PUT', '/api/users/me/settings', { locale: `en${LONE_HIGH}` }, 'locale'],
      ['POST', '/api/chats/group', { name: `G${NUL}`, memberIds: [] }, 'name'],
      ['POST', '/api/keys/replenish', { preKeys: [[]] }, 'preKeys'],
      ['POST', '/api/keys/replenish', { oneTimePreKeys: [[]] }, 'oneTimePreKeys'],
    ])('refuses %s %s with a hostile %j', async (method, path, body, field) => {
      const res = await t.http()[method.toLowerCase() as 'patch'](path).set(user.auth).send(body);
      expect(res.status).toBe(422);
      expect(res.body).toEqual(refused(field));
    });

    it('refuses a body of thousands of fields or items before validating it, naming it once', async () => {
      const wide = Object.fromEntries(Array.from({ length: 7_000 }, (_, i) => [`a${i}`, 0]));
      const res = await t.http().patch('/api/users/me').set(user.auth).send(wide).expect(422);
      expect(res.body).toEqual({ ...refused('body'), errors: { body: [expect.stringMatching(/more than 256 fields/)] } });
      const long = await t.http().post('/api/chats/group').set(user.auth).send({ name: 'g', memberIds: Array.from({ length: 30_000 }, () => 0) }).expect(422);
      expect(long.body.errors).toEqual({ memberIds: [expect.stringMatching(/more than 1000 items/)] });
      // Fewer unknown fields than the cap are named, at most ten of them.
      const some = await t.http().patch('/api/users/me').set(user.auth).send(Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`b${i}`, 0]))).expect(422);
      expect(Object.keys(some.body.errors)).toHaveLength(10);
    });

    it('refuses a group rename and a message edit carrying NUL, and leaves both as they were', async () => {
      const rename = await t.http().patch(`/api/chats/${groupId}`).set(user.auth).send({ name: `x${NUL}y` });
      expect(rename.status).toBe(422);
      expect(rename.body).toEqual(refused('name'));
      const edit = await t.http().patch(`/api/messages/${messageId}`).set(user.auth).send({ text: `edited${NUL}` });
      expect(edit.status).toBe(422);
      expect(edit.body).toEqual(refused('text'));
      expect((await t.backend.sql('SELECT text FROM messages WHERE id = $1', [messageId]))[0].text).toBe('hello');
    });

    it('refuses a bundle whose one-time prekeys are nested arrays', async () => {
      const bundle = { registrationId: 7, identityKey: key(), signedPreKeyId: 1, signedPreKey: key(), signedPreKeySig: randomBytes(64).toString('base64') };
      const res = await t.http().post('/api/keys/bundle').set(user.auth).send({ ...bundle, oneTimePreKeys: [[]] });
      expect(res.status).toBe(422);
      expect(res.body).toEqual(refused('oneTimePreKeys'));
      await t.http().post('/api/keys/bundle').set(user.auth).send({ ...bundle, oneTimePreKeys: [{ keyId: 1, publicKey: key() }] }).expect(201);
    });

    it.each([
      ['/api/users/search?q=ab%00', 'q'],
      ['/api/messages/search?q=hi%00', 'q'],
      [`/api/chats/CHAT/messages?q=hello%00`, 'q'],
      ['/api/users/%00', 'path'],
      [`/api/messages/MESSAGE/reactions/%F0%9F%91%8D%00`, 'path'],
    ])('refuses GET/DELETE %s with a NUL in %s', async (template, field) => {
      const path = template.replace('CHAT', chatId).replace('MESSAGE', messageId);
      const res = await (path.includes('/reactions/') ? t.http().delete(path) : t.http().get(path)).set(user.auth);
      expect(res.status).toBe(422);
      expect(res.body).toEqual(refused(field));
    });
  });

  describe('over the socket', () => {
    it.each([
      ['text', { text: `hi${NUL}` }],
      ['text', { text: `hi${LONE_HIGH}` }],
      ['mediaGroupId', { text: 'hi', mediaGroupId: `g${NUL}` }],
      ['clientMessageId', { text: 'hi', clientMessageId: `c${NUL}` }],
    ])('answers a message:send with a hostile %s by message:send:error VALIDATION_ERROR', async (field, fields) => {
      const clientMessageId = randomUUID();
      ws.send('message:send', { chatId, clientMessageId, ...fields });
      const error = await ws.waitFor('message:send:error');
      expect(error).toMatchObject({ code: 'VALIDATION_ERROR', errors: { [field]: [expect.any(String)] } });
      expect(error.clientMessageId).toBe((fields as { clientMessageId?: string }).clientMessageId ?? clientMessageId);
    });

    it.each([
      ['message:send', { chatId: { constructor: 1 }, text: 'hi' }, 'message:send:error', 'chatId'],
      ['message:read', { messageId: { constructor: 'x' } }, 'error', 'messageId'],
      ['message:listened', { messageId: { constructor: {} } }, 'error', 'messageId'],
      ['typing:start', { chatId: { constructor: null } }, 'error', 'chatId'],
      ['typing:stop', { chatId: { constructor: [] } }, 'error', 'chatId'],
    ])('answers %s with an object holding a constructor key where a string belongs by VALIDATION_ERROR', async (event, payload, answer, field) => {
      ws.send(event, payload);
      expect(await ws.waitFor(answer)).toMatchObject({ code: 'VALIDATION_ERROR', errors: { [field]: [expect.any(String)] } });
    });

    it('answers a frame of thousands of fields with a small VALIDATION_ERROR and keeps the socket', async () => {
      ws.send('message:read', Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`a${i}`, 0])));
      expect(await ws.waitFor('error')).toEqual({ code: 'VALIDATION_ERROR', message: expect.any(String), errors: { payload: [expect.stringMatching(/more than 256 fields/)] } });
      expect((await send(ws, groupId, 'after a wide frame')).text).toBe('after a wide frame');
    });

    it('answers a legacy `data` payload with a NUL under a field named constructor by VALIDATION_ERROR', async () => {
      ws.sendRaw('{"event":"message:send","data":{"constructor":"\\u0000"}}');
      expect(await ws.waitFor('message:send:error')).toMatchObject({ code: 'VALIDATION_ERROR', errors: { constructor: [expect.any(String)] } });
    });

    it('answers a frame nested 1,500 levels deep with VALIDATION_ERROR and keeps the socket', async () => {
      ws.sendRaw(`{"event":"message:send","payload":{"chatId":"${chatId}","text":${deepJson(1500, '"x"')}}}`);
      expect(await ws.waitFor('error')).toMatchObject({ code: 'VALIDATION_ERROR', errors: { frame: [expect.stringMatching(/deeper than 32/)] } });
      expect((await send(ws, chatId, 'still open')).text).toBe('still open');
      const stored = await t.backend.sql<{ text: string }>('SELECT text FROM messages WHERE chat_id = $1 ORDER BY id', [chatId]);
      expect(stored.map((m) => m.text)).toEqual(['hello', 'still open']);
    });
  });

  describe('ids in another case (PostgreSQL reads them as the same id, code compared them as another)', () => {
    const upper = (id: string) => id.toUpperCase();

    it('are no ids: the checks they used to pass by are not bypassed, and none answers 500', async () => {
      const [owner, member, victim] = [await signUp(t), await signUp(t), await signUp(t)];
      const group = await createGroup(t, owner, [member]);
      // The OWNER removing themselves under another spelling left the group without an OWNER.
      const removal = await t.http().delete(`/api/chats/${group}/members/${upper(owner.id)}`).set(owner.auth);
      expect([removal.status, removal.body.success]).toEqual([404, false]);
      expect(await t.backend.sql(`SELECT role FROM chat_members WHERE chat_id = $1 AND user_id = $2`, [group, owner.id])).toEqual([{ role: 'OWNER' }]);
      // Blocking or adding yourself broke a CHECK constraint (500).
      for (const res of [await t.http().post(`/api/users/${upper(owner.id)}/block`).set(owner.auth), await t.http().post(`/api/contacts/${upper(owner.id)}`).set(owner.auth)]) {
        expect([res.status, res.body.success]).toEqual([404, false]);
      }
      // A direct chat with yourself (500), or a second one with someone (a new pair key).
      await openDirect(t, owner, victim);
      for (const targetUserId of [upper(owner.id), upper(victim.id)]) {
        expect((await t.http().post('/api/chats/direct').set(owner.auth).send({ targetUserId })).body).toEqual(refused('targetUserId'));
      }
      expect(await t.backend.sql(`SELECT count(*)::int AS n FROM chats WHERE type = 'DIRECT' AND pair_key LIKE '%' || $1 || '%'`, [victim.id])).toEqual([{ n: 1 }]);
      // A fresh rate-limit bucket for each spelling of the same key owner.
      const bundle = await t.http().get(`/api/keys/bundle/${upper(victim.id)}`).set(owner.auth);
      expect([bundle.status, bundle.body.success]).toEqual([404, false]);
      // A session ended under another spelling closed none of its sockets.
      const [session] = await t.backend.sql<{ id: string }>(`SELECT id FROM sessions WHERE user_id = $1`, [member.id]);
      expect((await t.http().delete(`/api/auth/sessions/${upper(session.id)}`).set(member.auth)).status).toBe(404);
      // Over the socket too.
      const mws = await connect(t, member);
      mws.send('message:send', { chatId: upper(group), text: 'shouted', clientMessageId: randomUUID() });
      expect(await mws.waitFor('message:send:error')).toMatchObject({ code: 'VALIDATION_ERROR' });
      mws.close();
    });
  });
});
