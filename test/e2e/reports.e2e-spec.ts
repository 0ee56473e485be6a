import { randomBytes, randomUUID } from 'node:crypto';
import { connect, createGroup, openDirect, send } from '../support/chats';
import { TEST_REDIS_URL } from '../support/env';
import { signUp, TestUser } from '../support/factories';
import { image } from '../support/media-fixtures';
import { createTestApp, TestApp } from '../support/test-app';

const fakeKey = (): string => Buffer.concat([Buffer.from([0x05]), randomBytes(32)]).toString('base64');

/**
 * wire-contract-v2.2 §11: abuse reports. Checked against what the reporter can see, 20 an hour
 * per reporter (the real limit: this file does not lift it), a repeat within 24 hours answers the
 * first report, and the evidence is copied so that later edits, deletes and account deletions
 * do not erase it.
 */
describe('reports (v2.2 §11)', () => {
  let t: TestApp;
  // With Redis the limit's counters are shared, so a second instance counts against the same budget.
  let instances: TestApp[];
  const env = { RATE_LIMIT_REPORTS: '20/3600' };
  beforeAll(async () => {
    t = await createTestApp({ env });
    instances = TEST_REDIS_URL ? [t, await createTestApp({ backend: t.backend, env })] : [t];
  });
  afterAll(async () => {
    for (const app of instances.slice(1)) await app.close();
    await t.close();
  });

  const users = (n: number): Promise<TestUser[]> => Promise.all(Array.from({ length: n }, () => signUp(t)));
  const report = (user: TestUser, body: unknown, instance = 0) => instances[instance % instances.length].http().post('/api/reports').set(user.auth).send(body as object);
  const reportRow = async (id: string) => (await t.backend.sql('SELECT * FROM reports WHERE id = $1', [id]))[0];
  const reportsBy = async (user: TestUser) => (await t.backend.sql<{ n: number }>('SELECT count(*)::int AS n FROM reports WHERE reporter_id = $1', [user.id]))[0].n;
  const expectError = (res: { status: number; body: any }, status: number, code: string) => {
    expect({ status: res.status, success: res.body.success, code: res.body.code }).toEqual({ status, success: false, code });
  };

  /** A group of three with a message from `sender`, as the client reports it. */
  async function groupWithMessage(text = 'you are all idiots'): Promise<{ owner: TestUser; sender: TestUser; reporter: TestUser; chatId: string; message: any }> {
    const [owner, sender, reporter] = await users(3);
    const chatId = await createGroup(t, owner, [sender, reporter], 'Reported group');
    const ws = await connect(t, sender);
    const message = await send(ws, chatId, text);
    ws.close();
    return { owner, sender, reporter, chatId, message };
  }

  describe('filing', () => {
    it('answers 201 {id} for a message report and stores the message as it was, which an edit and a delete for everyone do not change', async () => {
      const { sender, reporter, chatId, message } = await groupWithMessage('you are all idiots');
      const res = await report(reporter, { targetMessageId: message.id, targetUserId: sender.id, reason: 'ABUSE', details: 'insults everyone' }).expect(201);
      expect(res.body).toEqual({ success: true, data: { id: expect.any(String) } });
      const id = res.body.data.id;
      const stored = {
        reporter_id: reporter.id,
        target_user_id: sender.id,
        target_message_id: message.id,
        target_chat_id: null,
        reason: 'ABUSE',
        details: 'insults everyone',
        status: 'OPEN',
        message_chat_id: chatId,
        message_chat_type: 'GROUP',
        message_sender_id: sender.id,
        message_type: 'TEXT',
        message_text: 'you are all idiots',
        message_media_url: null,
        message_media_name: null,
      };
      const row = await reportRow(id);
      expect(row).toMatchObject(stored);
      expect(new Date(row.message_created_at).toISOString()).toBe(message.createdAt);
      expect(row.target_user_snapshot).toEqual({ nickname: sender.nickname, firstName: null, lastName: null, bio: null, avatar: null });

      await t.http().patch(`/api/messages/${message.id}`).set(sender.auth).send({ text: 'have a nice day' }).expect(200);
      expect(await reportRow(id)).toMatchObject(stored);
      await t.http().delete(`/api/messages/${message.id}?forEveryone=true`).set(sender.auth).expect(200);
      expect(await t.backend.sql('SELECT 1 FROM messages WHERE id = $1', [message.id])).toEqual([]);
      expect(await reportRow(id)).toMatchObject(stored);
    });

    it("copies a media message's type, path and name", async () => {
      const [owner, sender, reporter] = await users(3);
      const chatId = await createGroup(t, owner, [sender, reporter]);
      const upload = (await t.http().post('/api/upload').set(sender.auth).attach('file', await image('png', 16, 16), 'bad.png').expect(201)).body.data;
      const ws = await connect(t, sender);
      const message = await send(ws, chatId, '', { text: undefined, mediaUrl: upload.url });
      ws.close();
      const { id } = (await report(reporter, { targetMessageId: message.id, targetUserId: sender.id, reason: 'NSFW' }).expect(201)).body.data;
      expect(await reportRow(id)).toMatchObject({ message_type: 'IMAGE', message_text: null, message_media_url: upload.url, message_media_name: message.mediaName, details: null });
    });

    it("files a user report and a group report with the profile and the group's name as they were", async () => {
      const [owner, member, reporter] = await users(3);
      await t.http().patch('/api/users/me').set(owner.auth).send({ firstName: 'Spam', lastName: 'King', bio: 'buy now' }).expect(200);
      const chatId = await createGroup(t, owner, [member, reporter], 'Cheap pills');
      const user = (await report(reporter, { targetUserId: owner.id, reason: 'SPAM' }).expect(201)).body.data.id;
      const group = (await report(reporter, { targetChatId: chatId, reason: 'SPAM' }).expect(201)).body.data.id;
      await t.http().patch('/api/users/me').set(owner.auth).send({ firstName: 'Nice', bio: 'hello' }).expect(200);
      await t.http().patch(`/api/chats/${chatId}`).set(owner.auth).send({ name: 'Book club' }).expect(200);

      expect(await reportRow(user)).toMatchObject({
        target_user_id: owner.id,
        target_message_id: null,
        target_chat_id: null,
        message_chat_id: null,
        message_text: null,
        target_user_snapshot: { nickname: owner.nickname, firstName: 'Spam', lastName: 'King', bio: 'buy now', avatar: null },
        target_chat_snapshot: null,
      });
      expect(await reportRow(group)).toMatchObject({
        target_user_id: null,
        target_chat_id: chatId,
        target_user_snapshot: null,
        target_chat_snapshot: { type: 'GROUP', name: 'Cheap pills', description: null, avatar: null },
      });
    });

    it('copies nothing of a SECRET message but its metadata: the server holds only ciphertext', async () => {
      const [alice, bob] = await users(2);
      const bundle = { registrationId: 1, identityKey: fakeKey(), signedPreKeyId: 1, signedPreKey: fakeKey(), signedPreKeySig: randomBytes(64).toString('base64'), oneTimePreKeys: [] };
      await t.http().post('/api/keys/bundle').set(bob.auth).send(bundle).expect(201);
      const chatId = (await t.http().post('/api/chats/secret').set(alice.auth).send({ targetUserId: bob.id }).expect(200)).body.data.id;
      const ws = await connect(t, alice);
      const ciphertext = Buffer.from('sealed words').toString('base64');
      const message = await send(ws, chatId, null as never, { ciphertext, signalType: 1 });
      ws.close();
      const { id } = (await report(bob, { targetMessageId: message.id, targetUserId: alice.id, reason: 'ABUSE' }).expect(201)).body.data;
      const row = await reportRow(id);
      expect(row).toMatchObject({ message_chat_id: chatId, message_chat_type: 'SECRET', message_sender_id: alice.id, message_type: 'TEXT', message_text: null });
      expect(JSON.stringify(row)).not.toContain(ciphertext);
      // Encrypted media: neither its caption nor its file name (the client's plaintext) is copied.
      const blob = (await t.http().post('/api/upload/encrypted').set(alice.browser).attach('file', randomBytes(512), { filename: 'file.enc', contentType: 'application/octet-stream' }).expect(201)).body.data;
      const mws = await connect(t, alice);
      const media = await send(mws, chatId, 'holiday caption', { type: 'IMAGE', mediaUrl: blob.url, mediaName: 'beach-with-ex.jpg', ciphertext, signalType: 1 });
      mws.close();
      const mediaReport = (await report(bob, { targetMessageId: media.id, targetUserId: alice.id, reason: 'ABUSE' }).expect(201)).body.data.id;
      expect(await reportRow(mediaReport)).toMatchObject({ message_type: 'IMAGE', message_text: null, message_media_name: null });
    });

    it('keeps the reports and their evidence when the reporter or the reported user deletes their account, tied to no one', async () => {
      const { sender, reporter, chatId, message } = await groupWithMessage('threat');
      const { id } = (await report(reporter, { targetMessageId: message.id, targetUserId: sender.id, reason: 'VIOLENCE' }).expect(201)).body.data;
      await t.http().delete('/api/users/me').set(sender.auth).expect(200);
      expect(await reportRow(id)).toMatchObject({
        reporter_id: reporter.id,
        target_user_id: null,
        message_sender_id: null,
        target_message_id: message.id,
        message_chat_id: chatId,
        message_text: 'threat',
        target_user_snapshot: { nickname: sender.nickname },
      });
      await t.http().delete('/api/users/me').set(reporter.auth).expect(200);
      expect(await reportRow(id)).toMatchObject({ reporter_id: null, message_text: 'threat' });
    });

    it('accepts the contract body exactly as the web client sends it, cookie and X-Requested-With included', async () => {
      const { sender, reporter, message } = await groupWithMessage();
      await t.http().post('/api/reports').set(reporter.browser).send({ targetMessageId: message.id, targetUserId: sender.id, reason: 'OTHER' }).expect(201);
      expectError(await t.http().post('/api/reports').set('Cookie', reporter.cookie).send({ targetUserId: sender.id, reason: 'OTHER' }), 403, 'CSRF_REJECTED');
      expectError(await t.http().post('/api/reports').send({ targetUserId: sender.id, reason: 'OTHER' }), 401, 'UNAUTHORIZED');
    });
  });

  describe('checks', () => {
    it('answers 422 without a target, with a bad reason, over 1000 characters of details, or for a malformed id; nothing is stored', async () => {
      const [reporter, target] = await users(2);
      const refused: unknown[] = [
        { reason: 'SPAM' },
        { targetUserId: null, targetMessageId: null, reason: 'SPAM' },
        { targetUserId: target.id },
        { targetUserId: target.id, reason: 'spam' },
        { targetUserId: target.id, reason: 'SPAM', details: 'x'.repeat(1001) },
        { targetUserId: target.id, reason: 'SPAM', details: 42 },
        { targetUserId: 'not-a-uuid', reason: 'SPAM' },
        { targetMessageId: 'x', reason: 'SPAM' },
        { targetUserId: target.id, reason: 'SPAM', extra: true },
      ];
      for (const body of refused) expectError(await report(reporter, body), 422, 'VALIDATION_ERROR');
      expect((await report(reporter, { reason: 'SPAM' })).body.errors).toEqual({ targetUserId: [expect.stringContaining('at least one')] });
      expect(await reportsBy(reporter)).toBe(0);

      // 1000 characters as people count them: an emoji is one.
      const details = '😡'.repeat(1000);
      const { id } = (await report(reporter, { targetUserId: target.id, reason: 'SPAM', details }).expect(201)).body.data;
      expect((await reportRow(id)).details).toBe(details);
      const blank = (await report(reporter, { targetUserId: target.id, reason: 'OTHER', details: '  ' }).expect(201)).body.data.id;
      expect((await reportRow(blank)).details).toBeNull();
    });

    it('refuses reporting yourself with CANNOT_TARGET_SELF', async () => {
      const [reporter] = await users(1);
      expectError(await report(reporter, { targetUserId: reporter.id, reason: 'SPAM' }), 422, 'CANNOT_TARGET_SELF');
    });

    it("refuses a message report whose user or chat is not the message's sender or chat (422), and one of the reporter's own message; nothing is stored", async () => {
      const { owner, sender, reporter, chatId, message } = await groupWithMessage();
      const other = await createGroup(t, reporter, [owner], 'Another group');
      const wrongUser = await report(reporter, { targetMessageId: message.id, targetUserId: owner.id, reason: 'ABUSE' });
      expectError(wrongUser, 422, 'VALIDATION_ERROR');
      expect(wrongUser.body.errors).toHaveProperty('targetUserId');
      const wrongChat = await report(reporter, { targetMessageId: message.id, targetChatId: other, reason: 'ABUSE' });
      expectError(wrongChat, 422, 'VALIDATION_ERROR');
      expect(wrongChat.body.errors).toHaveProperty('targetChatId');
      expectError(await report(sender, { targetMessageId: message.id, reason: 'ABUSE' }), 422, 'CANNOT_TARGET_SELF');
      expect((await reportsBy(reporter)) + (await reportsBy(sender))).toBe(0);
      await report(reporter, { targetMessageId: message.id, targetUserId: sender.id, targetChatId: chatId, reason: 'ABUSE' }).expect(201);
    });

    it("answers 404 for what the reporter cannot see: another group's message and chat, a message they hid, an unknown user; nothing is stored", async () => {
      const { sender, reporter, chatId, message } = await groupWithMessage();
      const [outsider] = await users(1);
      expectError(await report(outsider, { targetMessageId: message.id, targetUserId: sender.id, reason: 'SPAM' }), 404, 'MESSAGE_NOT_FOUND');
      expectError(await report(outsider, { targetChatId: chatId, reason: 'SPAM' }), 404, 'CHAT_NOT_FOUND');
      expectError(await report(outsider, { targetMessageId: randomUUID(), reason: 'SPAM' }), 404, 'MESSAGE_NOT_FOUND');
      expectError(await report(outsider, { targetChatId: randomUUID(), reason: 'SPAM' }), 404, 'CHAT_NOT_FOUND');
      expectError(await report(outsider, { targetUserId: randomUUID(), reason: 'SPAM' }), 404, 'USER_NOT_FOUND');
      expect(await reportsBy(outsider)).toBe(0);

      // Deleted for me: no longer visible to the reporter, so not reportable by them.
      await t.http().post(`/api/messages/${message.id}/hide`).set(reporter.auth).send({}).expect(200);
      expectError(await report(reporter, { targetMessageId: message.id, reason: 'SPAM' }), 404, 'MESSAGE_NOT_FOUND');
      expect(await reportsBy(reporter)).toBe(0);
    });

    it("answers CHAT_NOT_FOUND for a direct chat its target does not see yet, and lets members report across a block", async () => {
      const [alice, bob] = await users(2);
      const chatId = await openDirect(t, alice, bob);
      expectError(await report(bob, { targetChatId: chatId, reason: 'SPAM' }), 404, 'CHAT_NOT_FOUND');
      await t.http().post(`/api/users/${alice.id}/block`).set(bob.auth).expect(200);
      await report(bob, { targetUserId: alice.id, reason: 'ABUSE' }).expect(201);
      await report(alice, { targetChatId: chatId, reason: 'ABUSE' }).expect(201);
    });
  });

  describe('repeats and limits', () => {
    it('answers a repeat of the same targets and reason within 24 hours with the first report; another reason or target, or a day later, is a new one', async () => {
      const { owner, sender, reporter, chatId, message } = await groupWithMessage();
      const body = { targetMessageId: message.id, targetUserId: sender.id, reason: 'SPAM' };
      const first = (await report(reporter, body).expect(201)).body.data.id;
      expect((await report(reporter, { ...body, details: 'more words' }, 1).expect(201)).body.data.id).toBe(first);
      const other = [
        { ...body, reason: 'ABUSE' },
        { targetMessageId: message.id, reason: 'SPAM' },
        { targetUserId: sender.id, reason: 'SPAM' },
        { targetChatId: chatId, reason: 'SPAM' },
        { targetUserId: sender.id, targetChatId: chatId, reason: 'SPAM' },
      ];
      const ids = [];
      for (const b of other) ids.push((await report(reporter, b).expect(201)).body.data.id);
      expect(new Set([first, ...ids]).size).toBe(6);
      // Someone else's identical report is theirs.
      expect((await report(owner, body).expect(201)).body.data.id).not.toBe(first);

      await t.backend.sql(`UPDATE reports SET created_at = now() - interval '24 hours 1 minute' WHERE id = $1`, [first]);
      const later = (await report(reporter, body).expect(201)).body.data.id;
      expect(later).not.toBe(first);
      expect(await reportsBy(reporter)).toBe(7);
    });

    it('stores one report for eight identical reports sent at once, and answers each with its id', async () => {
      const [reporter, target] = await users(2);
      const responses = await Promise.all(Array.from({ length: 8 }, (_, i) => report(reporter, { targetUserId: target.id, reason: 'ABUSE' }, i)));
      expect(responses.map((r) => r.status)).toEqual(Array(8).fill(201));
      expect(new Set(responses.map((r) => r.body.data.id)).size).toBe(1);
      expect(await reportsBy(reporter)).toBe(1);
    });

    it('lets one user file 20 reports an hour, on every instance together, then answers 429 RATE_LIMIT; others are unaffected', async () => {
      const [reporter, other] = await users(2);
      const targets = await users(21);
      for (let i = 0; i < 20; i++) await report(reporter, { targetUserId: targets[i].id, reason: 'SPAM' }, i).expect(201);
      const refused = await report(reporter, { targetUserId: targets[20].id, reason: 'SPAM' }, 1);
      expectError(refused, 429, 'RATE_LIMIT');
      expect(refused.body.retryAfter).toBeGreaterThan(3000);
      expect(refused.headers['retry-after']).toBe(String(refused.body.retryAfter));
      expect(await reportsBy(reporter)).toBe(20);
      await report(other, { targetUserId: targets[20].id, reason: 'SPAM' }).expect(201);
    });
  });
});
