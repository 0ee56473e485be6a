import { randomUUID } from 'node:crypto';
import { connect, createGroup, openDirect, send } from '../support/chats';
import { Client } from 'pg';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../support/env';
import { signIn, signUp, TestUser } from '../support/factories';
import { image } from '../support/media-fixtures';
import { createBackend, createTestApp, TestApp, TestBackend, twoInstances } from '../support/test-app';
import { WsClient } from '../support/ws-client';
import { lockWaiters } from '../support/races';

/** Wire contract v2.2 §1.3, §7, §8 and §18.4: message additions, hide and delete, jump to a date, forwards, albums, filters, search as you type. */
describe('messages (v2.2)', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  /** Two users with a direct chat (visible to both) and a socket each. */
  async function pair(): Promise<{ a: TestUser; b: TestUser; chatId: string; aws: WsClient; bws: WsClient }> {
    const [a, b] = await Promise.all([signUp(t), signUp(t)]);
    const chatId = await openDirect(t, a, b);
    return { a, b, chatId, aws: await connect(t, a), bws: await connect(t, b) };
  }

  const history = async (user: TestUser, chatId: string, query = ''): Promise<any> =>
    (await t.http().get(`/api/chats/${chatId}/messages${query}`).set(user.auth).expect(200)).body.data;
  const chatOf = async (user: TestUser, chatId: string): Promise<any> => (await t.http().get(`/api/chats/${chatId}`).set(user.auth).expect(200)).body.data;
  const texts = (page: { messages: Array<{ text: string }> }): string[] => page.messages.map((m) => m.text);
  /** Ids are UUIDv7 with millisecond time: a pause between sends gives each message its own millisecond. */
  const nextMillisecond = () => new Promise((resolve) => setTimeout(resolve, 3));

  /** A SECRET chat between two users with one message in it, written directly (starting one through the API needs Signal bundles, beside the point here). */
  async function secretChatWith(a: TestUser, b: TestUser): Promise<{ chatId: string; messageId: string }> {
    const chatId = randomUUID();
    const messageId = randomUUID();
    await t.backend.sql(`INSERT INTO chats (id, type, pair_key, message_seq, last_message_id) VALUES ($1, 'SECRET', $2, 1, $3)`, [chatId, `SECRET:${[a.id, b.id].sort().join(':')}`, messageId]);
    await t.backend.sql(`INSERT INTO chat_members (chat_id, user_id, id, role) VALUES ($1, $2, $3, 'MEMBER'), ($1, $4, $5, 'MEMBER')`, [chatId, a.id, randomUUID(), b.id, randomUUID()]);
    await t.backend.sql(`INSERT INTO messages (id, chat_id, sender_id, seq, type, ciphertext, signal_type) VALUES ($1, $2, $3, 1, 'TEXT', 'c2VjcmV0', 1)`, [messageId, chatId, a.id]);
    return { chatId, messageId };
  }

  // Two connections at once: PGlite (the embedded mode) runs one statement at a time, so the interleaving cannot happen there.
  (TEST_DATABASE_URL ? it : it.skip)('answers MESSAGE_NOT_FOUND, not a 500, to an edit, a reaction and a listen that a delete overtakes', async () => {
    const { a, b, chatId, aws, bws } = await pair();
    await send(aws, chatId, 'hello');
    const edited = await send(bws, chatId, 'to be edited');
    const reacted = await send(bws, chatId, 'to be reacted to');
    const upload = (await t.http().post('/api/upload').set(b.auth).attach('file', await image('png'), 'v.png').expect(201)).body.data;
    const [{ id: listened }] = await t.backend.sql(
      `WITH s AS (UPDATE chats SET message_seq = message_seq + 1 WHERE id = $1 RETURNING message_seq)
       INSERT INTO messages (id, chat_id, sender_id, seq, type, media_url) SELECT $3, $1, $2, s.message_seq, 'AUDIO', $4 FROM s RETURNING id`,
      [chatId, b.id, randomUUID(), upload.url],
    );
    const deleting = new Client({ connectionString: t.backend.env.DATABASE_URL });
    await deleting.connect();
    try {
      // Deleted, not committed yet: each request finds its message, then waits on the deleted row's lock.
      await deleting.query('BEGIN');
      await deleting.query('DELETE FROM messages WHERE id = ANY($1::uuid[])', [[edited.id, reacted.id, listened]]);
      const edit = t.http().patch(`/api/messages/${edited.id}`).set(b.auth).send({ text: 'too late' }).then((res) => res);
      const reaction = t.http().post(`/api/messages/${reacted.id}/reactions`).set(a.auth).send({ emoji: '👍' }).then((res) => res);
      aws.send('message:listened', { messageId: listened, chatId });
      const hide = t.http().post(`/api/messages/${edited.id}/hide`).set(a.auth).then((res) => res);
      await lockWaiters(t, 4);
      await deleting.query('COMMIT');
      for (const res of [await edit, await reaction, await hide]) expect([res.status, res.body.code]).toEqual([404, 'MESSAGE_NOT_FOUND']);
      expect(await aws.waitFor('error')).toMatchObject({ code: 'MESSAGE_NOT_FOUND' });
    } finally {
      await deleting.end();
    }
    expect(await t.backend.sql('SELECT 1 FROM reactions WHERE message_id = $1 UNION ALL SELECT 1 FROM message_listens WHERE message_id = $2', [reacted.id, listened])).toEqual([]);
    [aws, bws].forEach((s) => s.close());
  });

  (TEST_DATABASE_URL ? it : it.skip)('points the chat at its newest message when two deletes for everyone overlap', async () => {
    const { a, chatId, aws, bws } = await pair();
    const kept = await send(aws, chatId, 'kept');
    await nextMillisecond();
    const older = await send(aws, chatId, 'older');
    await nextMillisecond();
    const newest = await send(aws, chatId, 'newest');
    const deleting = new Client({ connectionString: t.backend.env.DATABASE_URL });
    await deleting.connect();
    try {
      // Another delete of `older` as the server made one, not committed yet: it saw `newest` as the last message.
      await deleting.query('BEGIN');
      await deleting.query('DELETE FROM messages WHERE id = $1', [older.id]);
      await deleting.query('UPDATE chats SET last_message_id = (SELECT id FROM messages WHERE chat_id = $1 ORDER BY id DESC LIMIT 1) WHERE id = $1', [chatId]);
      const res = t.http().delete(`/api/messages/${newest.id}?forEveryone=true`).set(a.auth).then((r) => r);
      await lockWaiters(t);
      await deleting.query('COMMIT');
      expect((await res).status).toBe(200);
    } finally {
      await deleting.end();
    }
    expect(await t.backend.sql('SELECT last_message_id FROM chats WHERE id = $1', [chatId])).toEqual([{ last_message_id: kept.id }]);
    expect((await chatOf(a, chatId)).lastMessage).toMatchObject({ id: kept.id, text: 'kept' });
    expect(await bws.waitFor('message:deleted', (p) => p.messageId === newest.id)).toMatchObject({ newLastMessage: { id: kept.id } });
    [aws, bws].forEach((s) => s.close());
  });

  describe('forward (§8.1)', () => {
    it('stores a forward sent exactly as the web client sends it, named after the original sender, on every Message output', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const c = await signUp(t);
      const target = await openDirect(t, b, c);
      const cws = await connect(t, c);
      const original = await send(aws, chatId, 'worth sharing');
      await t.http().patch('/api/users/me').set(a.auth).send({ firstName: 'Ada', lastName: 'Lovelace' }).expect(200);
      // The frame of MessageArea.tsx:888-898: no clientMessageId, forwardSenderName from the client.
      bws.send('message:send', { chatId: target, text: original.text, type: original.type, mediaUrl: original.mediaUrl, forwardedFromId: original.id, forwardSenderName: 'whatever the client says' });
      const forwarded = await cws.waitFor('message:new', (m) => m.chatId === target);
      expect(forwarded).toMatchObject({ chatId: target, sender: expect.objectContaining({ id: b.id }), text: 'worth sharing', type: 'TEXT', forwardedFromId: original.id, forwardSenderName: 'Ada Lovelace', mediaGroupId: null });
      const [row] = await t.backend.sql('SELECT forwarded_from_id, forward_sender_name FROM messages WHERE id = $1', [forwarded.id]);
      expect(row).toEqual({ forwarded_from_id: original.id, forward_sender_name: 'Ada Lovelace' });
      expect((await history(c, target)).messages[0]).toMatchObject({ id: forwarded.id, forwardedFromId: original.id, forwardSenderName: 'Ada Lovelace' });

      // A forward of a forward keeps the first sender's name.
      const again = await send(cws, target, 'ignored text', { forwardedFromId: forwarded.id, forwardSenderName: c.nickname });
      expect(again).toMatchObject({ text: 'worth sharing', forwardedFromId: forwarded.id, forwardSenderName: 'Ada Lovelace' });

      // The forwarder cannot edit the forward: "Forwarded from Ada Lovelace" would show words she never wrote.
      const edit = await t.http().patch(`/api/messages/${forwarded.id}`).set(b.auth).send({ text: 'Ada says: send me money' }).expect(422);
      expect(edit.body).toMatchObject({ success: false, code: 'VALIDATION_ERROR', errors: { forwardedFromId: [expect.any(String)] } });
      expect((await t.backend.sql('SELECT text, is_edited FROM messages WHERE id = $1', [forwarded.id]))[0]).toEqual({ text: 'worth sharing', is_edited: false });
      [aws, bws, cws].forEach((s) => s.close());
    });

    it('copies media from the original (the forwarder did not upload it) with its name and size', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const c = await signUp(t);
      const target = await openDirect(t, b, c);
      const photo = (await t.http().post('/api/upload').set(a.auth).attach('file', await image('png'), 'sunset.png').expect(201)).body.data;
      const original = await send(aws, chatId, 'sunset', { type: 'IMAGE', mediaUrl: photo.url });
      const forwarded = await send(bws, target, 'sunset', { type: 'IMAGE', mediaUrl: photo.url, forwardedFromId: original.id, forwardSenderName: a.nickname });
      expect(forwarded).toMatchObject({ type: 'IMAGE', mediaUrl: photo.url, mediaName: 'sunset.png', mediaSize: photo.size, text: 'sunset', forwardSenderName: a.nickname });
      [aws, bws].forEach((s) => s.close());
    });

    it('refuses a forward of a message the sender cannot see, out of or into a secret chat, and stores nothing', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const [stranger, d] = await Promise.all([signUp(t), signUp(t)]);
      const strangerChat = await openDirect(t, stranger, d);
      const sws = await connect(t, stranger);
      const foreign = await send(sws, strangerChat, 'not for a');
      const plain = await send(aws, chatId, 'plain'); // b sees the chat from its first message on
      await bws.waitFor('message:new', (m) => m.id === plain.id);
      const mine = await send(bws, chatId, 'hidden by a');
      await t.http().post(`/api/messages/${mine.id}/hide`).set(a.auth).expect(200);
      const secret = await secretChatWith(a, b);
      const before = (await t.backend.sql('SELECT count(*)::int AS n FROM messages'))[0].n;
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ chatId, text: 'x', forwardedFromId: foreign.id }, 'MESSAGE_NOT_FOUND'],
        [{ chatId, text: 'x', forwardedFromId: randomUUID() }, 'MESSAGE_NOT_FOUND'],
        [{ chatId, text: 'x', forwardedFromId: mine.id }, 'MESSAGE_NOT_FOUND'],
        [{ chatId, text: null, forwardedFromId: secret.messageId }, 'FORWARD_NOT_ALLOWED'],
        [{ chatId: secret.chatId, ciphertext: 'YWJj', signalType: 1, forwardedFromId: plain.id }, 'FORWARD_NOT_ALLOWED'],
        [{ chatId, text: 'x', forwardedFromId: plain.id, forwardSenderName: 'n'.repeat(129) }, 'VALIDATION_ERROR'],
      ];
      for (const [payload, code] of cases) {
        const clientMessageId = randomUUID();
        aws.send('message:send', { ...payload, clientMessageId });
        expect(await aws.waitFor('message:send:error')).toMatchObject({ code, message: expect.any(String), clientMessageId });
      }
      expect((await t.backend.sql('SELECT count(*)::int AS n FROM messages'))[0].n).toBe(before);
      await bws.expectNo('message:new', () => true, 300);
      [aws, bws, sws].forEach((s) => s.close());
    });
  });

  describe('albums (§8.2)', () => {
    it('stores mediaGroupId as sent and echoes it on message:new and in history; refuses a malformed one', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const [one, two] = await Promise.all([image('png'), image('jpeg')]);
      const uploads = await Promise.all([
        t.http().post('/api/upload').set(a.auth).attach('file', one, '1.png').expect(201),
        t.http().post('/api/upload').set(a.auth).attach('file', two, '2.jpg').expect(201),
      ]);
      const group = `mg_${Date.now()}_k3x9`;
      const second = await send(aws, chatId, 'second caption', { type: 'IMAGE', mediaUrl: uploads[1].body.data.url, mediaGroupId: group });
      const first = await send(aws, chatId, '', { type: 'IMAGE', mediaUrl: uploads[0].body.data.url, mediaGroupId: group });
      expect([first.mediaGroupId, second.mediaGroupId]).toEqual([group, group]);
      expect(await bws.waitFor('message:new', (m) => m.id === first.id)).toMatchObject({ mediaGroupId: group, type: 'IMAGE' });
      expect((await history(b, chatId)).messages.map((m: any) => m.mediaGroupId)).toEqual([group, group]);
      for (const bad of ['', 'has space', 'x'.repeat(65), 'ünï']) {
        aws.send('message:send', { chatId, text: 'x', mediaGroupId: bad, clientMessageId: `bad-${bad.length}` });
        expect(await aws.waitFor('message:send:error')).toMatchObject({ code: 'VALIDATION_ERROR' });
      }
      [aws, bws].forEach((s) => s.close());
    });
  });

  describe('delete for me (§7.2)', () => {
    it('hides a message for the caller only: history, search, shared media, unread and last message agree; only the caller\'s sockets hear of it', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const aOther = await connect(t, await signIn(t, a.email));
      const first = await send(aws, chatId, 'first words');
      const photo = (await t.http().post('/api/upload').set(b.auth).attach('file', await image('png'), 'p.png').expect(201)).body.data;
      const pic = await send(bws, chatId, 'picture words', { type: 'IMAGE', mediaUrl: photo.url });
      const last = await send(bws, chatId, 'latest words');
      expect((await chatOf(a, chatId)).unread).toBe(2);

      const res = await t.http().post(`/api/messages/${last.id}/hide`).set(a.auth).set('Content-Type', 'application/json').expect(200);
      expect(res.body).toEqual({ success: true, data: { messageId: last.id, hidden: true } });
      for (const ws of [aws, aOther]) {
        expect(await ws.waitFor('message:deleted')).toEqual({ messageId: last.id, chatId, newLastMessage: expect.objectContaining({ id: pic.id, text: 'picture words' }) });
      }
      await bws.expectNo('message:deleted', () => true, 300);
      await t.http().delete(`/api/messages/${pic.id}?forEveryone=false`).set(a.auth).expect(200, { success: true, data: { messageId: pic.id } });
      expect(await aws.waitFor('message:deleted')).toEqual({ messageId: pic.id, chatId, newLastMessage: expect.objectContaining({ id: first.id }) });

      expect(texts(await history(a, chatId))).toEqual(['first words']);
      expect(texts(await history(b, chatId))).toEqual(['latest words', 'picture words', 'first words']);
      expect(texts(await history(a, chatId, '?q=words'))).toEqual(['first words']);
      expect(texts((await t.http().get('/api/messages/search?q=words').set(a.auth).expect(200)).body.data)).toEqual(['first words']);
      expect((await t.http().get(`/api/chats/${chatId}/shared`).set(a.auth).expect(200)).body.data.items).toEqual([]);
      expect((await t.http().get(`/api/chats/${chatId}/shared`).set(b.auth).expect(200)).body.data.items).toHaveLength(1);
      const aChat = await chatOf(a, chatId);
      expect({ unread: aChat.unread, last: aChat.lastMessage.id }).toEqual({ unread: 0, last: first.id });
      const aList = (await t.http().get('/api/chats').set(a.auth).expect(200)).body.data.chats.find((c: any) => c.id === chatId);
      expect({ unread: aList.unread, last: aList.lastMessage.id }).toEqual({ unread: 0, last: first.id });
      expect((await chatOf(b, chatId)).lastMessage.id).toBe(last.id);
      expect(await t.backend.sql('SELECT message_id FROM message_hides WHERE user_id = $1 ORDER BY seq', [a.id])).toEqual([{ message_id: pic.id }, { message_id: last.id }]);
      [aws, aOther, bws].forEach((s) => s.close());
    });

    it('hides twice with 2xx and no change; answers 404 for a message of a chat the caller is not in, or no message', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      await send(aws, chatId, 'hello'); // b sees the chat from its first message on
      const m = await send(bws, chatId, 'once');
      await t.http().post(`/api/messages/${m.id}/hide`).set(a.auth).expect(200);
      expect(await aws.waitFor('message:deleted')).toMatchObject({ messageId: m.id });
      await t.http().post(`/api/messages/${m.id}/hide`).set(a.auth).expect(200, { success: true, data: { messageId: m.id, hidden: true } });
      await aws.expectNo('message:deleted', () => true, 300);
      expect(await t.backend.sql('SELECT count(*)::int AS n FROM message_hides WHERE message_id = $1', [m.id])).toEqual([{ n: 1 }]);

      const stranger = await signUp(t);
      for (const id of [m.id, randomUUID(), 'not-a-uuid']) {
        const res = await t.http().post(`/api/messages/${id}/hide`).set(stranger.auth).expect(404);
        expect(res.body.code).toBe('MESSAGE_NOT_FOUND');
      }
      expect((await t.http().delete(`/api/messages/${m.id}?forEveryone=false`).set(stranger.auth).expect(404)).body.code).toBe('MESSAGE_NOT_FOUND');
      expect(await t.backend.sql('SELECT count(*)::int AS n FROM message_hides WHERE user_id = $1', [stranger.id])).toEqual([{ n: 0 }]);
      expect((await t.http().post(`/api/messages/${m.id}/hide`).expect(401)).body.code).toBe('UNAUTHORIZED');
      [aws, bws].forEach((s) => s.close());
    });

    it('keeps a hidden message hidden for the hider when it is edited or reacted to', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const older = await send(aws, chatId, 'older');
      const m = await send(bws, chatId, 'typo');
      await t.http().post(`/api/messages/${m.id}/hide`).set(a.auth).expect(200);
      await aws.waitFor('message:deleted');
      await t.http().patch(`/api/messages/${m.id}`).set(b.auth).send({ text: 'fixed' }).expect(200);
      await t.http().post(`/api/messages/${m.id}/reactions`).set(b.auth).send({ emoji: '🔥' }).expect(200);
      expect(await bws.waitFor('reaction:added')).toMatchObject({ messageId: m.id });
      await aws.expectNo('message:edited', () => true, 300);
      await aws.expectNo('reaction:added', () => true, 100);
      expect(texts(await history(a, chatId))).toEqual(['older']);
      expect((await chatOf(a, chatId)).lastMessage.id).toBe(older.id);
      expect(texts(await history(b, chatId))).toEqual(['fixed', 'older']);
      [aws, bws].forEach((s) => s.close());
    });
  });

  describe('a reply to a message the viewer hid', () => {
    it('previews it to them as gone, live, on edit, in history, the chat list and search; others still see it', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const original = await send(aws, chatId, 'hiddenword original');
      await t.http().post(`/api/messages/${original.id}/hide`).set(b.auth).expect(200);
      await bws.waitFor('message:deleted');
      const reply = await send(aws, chatId, 'replying zzreply', { replyToId: original.id });
      const gone = { id: original.id, text: null, sender: null, isDeleted: true };
      expect(reply.replyTo).toMatchObject({ id: original.id, text: 'hiddenword original', isDeleted: false });
      expect((await bws.waitFor('message:new', (m) => m.id === reply.id)).replyTo).toEqual(gone);
      await t.http().patch(`/api/messages/${reply.id}`).set(a.auth).send({ text: 'replying zzreply edited' }).expect(200);
      expect((await bws.waitFor('message:edited', (m) => m.id === reply.id)).replyTo).toEqual(gone);
      expect((await aws.waitFor('message:edited', (m) => m.id === reply.id)).replyTo).toMatchObject({ text: 'hiddenword original' });
      expect((await history(b, chatId)).messages.map((m: { replyTo: unknown }) => m.replyTo)).toEqual([gone]);
      expect((await chatOf(b, chatId)).lastMessage.replyTo).toEqual(gone);
      const found = (await t.http().get('/api/messages/search?q=zzreply').set(b.auth).expect(200)).body.data.messages;
      expect(found.map((m: { replyTo: unknown }) => m.replyTo)).toEqual([gone]);
      expect((await history(a, chatId)).messages[0].replyTo).toMatchObject({ text: 'hiddenword original', isDeleted: false });
      [aws, bws].forEach((s) => s.close());
    });
  });

  describe('delete for everyone (§7.3)', () => {
    it('lets the group OWNER delete any message and an ADMIN any but the OWNER\'s; MEMBERs only their own (403 FORBIDDEN)', async () => {
      const [owner, admin, member] = await Promise.all([signUp(t), signUp(t), signUp(t)]);
      const groupId = await createGroup(t, owner, [admin, member]);
      await t.backend.sql(`UPDATE chat_members SET role = 'ADMIN' WHERE chat_id = $1 AND user_id = $2`, [groupId, admin.id]);
      const [ows, aws, mws] = await Promise.all([connect(t, owner), connect(t, admin), connect(t, member)]);
      const byOwner = await send(ows, groupId, 'owner says');
      const byAdmin = await send(aws, groupId, 'admin says');
      const byMember = await send(mws, groupId, 'member says');

      expect((await t.http().delete(`/api/messages/${byOwner.id}?forEveryone=true`).set(admin.auth).expect(403)).body.code).toBe('FORBIDDEN');
      expect((await t.http().delete(`/api/messages/${byAdmin.id}?forEveryone=true`).set(member.auth).expect(403)).body.code).toBe('FORBIDDEN');
      expect(await t.backend.sql('SELECT count(*)::int AS n FROM messages WHERE chat_id = $1', [groupId])).toEqual([{ n: 3 }]);

      await t.http().delete(`/api/messages/${byMember.id}?forEveryone=true`).set(admin.auth).expect(200, { success: true, data: { messageId: byMember.id } });
      for (const ws of [ows, aws, mws]) {
        expect(await ws.waitFor('message:deleted')).toEqual({ messageId: byMember.id, chatId: groupId, newLastMessage: expect.objectContaining({ id: byAdmin.id }) });
      }
      await t.http().delete(`/api/messages/${byAdmin.id}?forEveryone=true`).set(owner.auth).expect(200);
      expect(await mws.waitFor('message:deleted')).toMatchObject({ messageId: byAdmin.id, newLastMessage: expect.objectContaining({ id: byOwner.id }) });
      // v1.1's request without the parameter still deletes the sender's own message for everyone.
      await t.http().delete(`/api/messages/${byOwner.id}`).set(owner.auth).expect(200);
      expect(await mws.waitFor('message:deleted')).toEqual({ messageId: byOwner.id, chatId: groupId, newLastMessage: null });
      expect(await t.backend.sql('SELECT count(*)::int AS n FROM messages WHERE chat_id = $1', [groupId])).toEqual([{ n: 0 }]);
      expect((await t.http().delete(`/api/messages/${byOwner.id}?forEveryone=true`).set(owner.auth).expect(404)).body.code).toBe('MESSAGE_NOT_FOUND');
      expect((await t.http().delete(`/api/messages/${byOwner.id}?forEveryone=maybe`).set(owner.auth).expect(422)).body.code).toBe('VALIDATION_ERROR');
      [ows, aws, mws].forEach((s) => s.close());
    });

    it('refuses the partner of a direct chat, and tells each member the last message they can still see', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const first = await send(aws, chatId, 'one');
      const second = await send(bws, chatId, 'two');
      const third = await send(bws, chatId, 'three');
      expect((await t.http().delete(`/api/messages/${third.id}?forEveryone=true`).set(a.auth).expect(403)).body.code).toBe('FORBIDDEN');
      await t.http().post(`/api/messages/${second.id}/hide`).set(a.auth).expect(200);
      await aws.waitFor('message:deleted');
      await t.http().delete(`/api/messages/${third.id}?forEveryone=true`).set(b.auth).expect(200);
      expect(await aws.waitFor('message:deleted')).toEqual({ messageId: third.id, chatId, newLastMessage: expect.objectContaining({ id: first.id }) });
      expect(await bws.waitFor('message:deleted')).toEqual({ messageId: third.id, chatId, newLastMessage: expect.objectContaining({ id: second.id }) });
      expect((await chatOf(a, chatId)).lastMessage.id).toBe(first.id);
      [aws, bws].forEach((s) => s.close());
    });
  });

  describe('jump to a date (§7.1)', () => {
    /** Ten messages n1…n10, each in its own millisecond. */
    async function tenMessages(): Promise<{ a: TestUser; b: TestUser; chatId: string; sent: any[]; close: () => void }> {
      const { a, b, chatId, aws, bws } = await pair();
      const sent = [];
      for (let i = 1; i <= 10; i++) {
        sent.push(await send(i % 2 ? aws : bws, chatId, `n${i}`));
        await nextMillisecond();
      }
      return { a, b, chatId, sent, close: () => [aws, bws].forEach((s) => s.close()) };
    }

    it('starts the window at the date, newest first, with the message of that instant and a cursor to older history', async () => {
      const { a, chatId, sent, close } = await tenMessages();
      const around = async (date: string, limit?: number) =>
        (await t.http().get(`/api/chats/${chatId}/messages/around`).query({ date, ...(limit ? { limit } : {}) }).set(a.auth).expect(200)).body.data;

      const at5 = await around(sent[4].createdAt, 3);
      expect(texts(at5)).toEqual(['n7', 'n6', 'n5']);
      expect(at5.nextCursor).toBe(sent[4].id);
      expect(at5.messages[2]).toMatchObject({ id: sent[4].id, seq: 5, forwardedFromId: null, forwardSenderName: null, mediaGroupId: null });
      // The client then pages older history with the cursor.
      expect(texts(await history(a, chatId, `?cursor=${at5.nextCursor}&limit=2`))).toEqual(['n4', 'n3']);

      const late = await around(new Date(Date.parse(sent[9].createdAt) + 60_000).toISOString(), 3);
      expect({ texts: texts(late), cursor: late.nextCursor }).toEqual({ texts: ['n10', 'n9', 'n8'], cursor: sent[7].id });
      const early = await around('2020-01-01T00:00:00.000Z');
      expect({ count: early.messages.length, first: early.messages[9].text, cursor: early.nextCursor }).toEqual({ count: 10, first: 'n1', cursor: null });
      const nearEnd = await around(sent[8].createdAt, 4);
      expect({ texts: texts(nearEnd), cursor: nearEnd.nextCursor }).toEqual({ texts: ['n10', 'n9', 'n8', 'n7'], cursor: sent[6].id });

      await t.http().post(`/api/messages/${sent[5].id}/hide`).set(a.auth).expect(200);
      expect(texts(await around(sent[4].createdAt, 3))).toEqual(['n8', 'n7', 'n5']);
      // A hidden message before the date is left out of the window's older part too.
      await t.http().post(`/api/messages/${sent[7].id}/hide`).set(a.auth).expect(200);
      expect(texts(await around(new Date(Date.parse(sent[9].createdAt) + 60_000).toISOString(), 3))).toEqual(['n10', 'n9', 'n7']);
      close();
    });

    it('answers 422 for a date that is not a date or a bad limit, 404 to a non-member', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      await send(aws, chatId, 'hi');
      // ISO 8601 forms JavaScript's Date does not read (week, ordinal, basic, hour-only, comma fraction) are refused too, not a 500.
      const unreadable = ['2024-W01', '2024-366', '20240101', '2024-01-01T10', '2024-01-01T10:00:00,5Z'].map((d) => `?date=${encodeURIComponent(d)}`);
      for (const query of ['', '?date=yesterday', '?date=2026-13-45T00:00:00Z', '?date=2026-01-01T00:00:00Z&limit=0', '?date=2026-01-01T00:00:00Z&limit=101', ...unreadable]) {
        const res = await t.http().get(`/api/chats/${chatId}/messages/around${query}`).set(a.auth).expect(422);
        expect(res.body.code).toBe('VALIDATION_ERROR');
      }
      const stranger = await signUp(t);
      for (const id of [chatId, randomUUID(), 'nope']) {
        expect((await t.http().get(`/api/chats/${id}/messages/around?date=2026-01-01T00:00:00Z`).set(stranger.auth).expect(404)).body.code).toBe('CHAT_NOT_FOUND');
      }
      expect(b.id).toBeDefined();
      [aws, bws].forEach((s) => s.close());
    });
  });

  describe('history filters (§18.4)', () => {
    it('filters by from and to (inclusive on createdAt), senderId and type, combined with AND and with q', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const sent = [];
      for (let i = 1; i <= 6; i++) {
        sent.push(await send(i % 2 ? aws : bws, chatId, `report ${i}`));
        await nextMillisecond();
      }
      const photo = (await t.http().post('/api/upload').set(a.auth).attach('file', await image('png'), 'chart.png').expect(201)).body.data;
      const pic = await send(aws, chatId, 'report chart', { type: 'IMAGE', mediaUrl: photo.url });
      const q = (params: Record<string, string>) => `?${new URLSearchParams(params)}`;

      expect(texts(await history(a, chatId, q({ from: sent[1].createdAt, to: sent[3].createdAt })))).toEqual(['report 4', 'report 3', 'report 2']);
      expect(texts(await history(a, chatId, q({ senderId: b.id })))).toEqual(['report 6', 'report 4', 'report 2']);
      expect(texts(await history(a, chatId, q({ senderId: a.id, from: sent[2].createdAt })))).toEqual(['report chart', 'report 5', 'report 3']);
      expect((await history(a, chatId, q({ type: 'IMAGE' }))).messages.map((m: any) => m.id)).toEqual([pic.id]);
      expect(texts(await history(a, chatId, q({ type: 'TEXT', to: sent[1].createdAt })))).toEqual(['report 2', 'report 1']);
      expect(texts(await history(a, chatId, q({ q: 'rep', senderId: a.id, type: 'TEXT', from: sent[2].createdAt })))).toEqual(['report 5', 'report 3']);
      expect(texts(await history(a, chatId, q({ senderId: b.id, limit: '2' })))).toEqual(['report 6', 'report 4']);
      const paged = await history(a, chatId, q({ senderId: b.id, limit: '2' }));
      expect(texts(await history(a, chatId, q({ senderId: b.id, cursor: paged.nextCursor })))).toEqual(['report 2']);

      const badQueries: Array<Record<string, string>> = [{ from: 'last week' }, { to: '2026-02-30T00:00:00Z' }, { from: '2024-W01' }, { to: '20240101' }, { senderId: 'me' }, { type: 'SYSTEM' }, { type: 'image' }];
      for (const bad of badQueries) {
        expect((await t.http().get(`/api/chats/${chatId}/messages${q(bad)}`).set(a.auth).expect(422)).body.code).toBe('VALIDATION_ERROR');
      }
      // Bounds at the ends of what a timestamp holds (one past it in UTC, by an offset or by `to`'s
      // whole millisecond) are the same as the nearest end, in both run modes.
      const all = texts(await history(a, chatId, q({})));
      expect(texts(await history(a, chatId, q({ to: '9999-12-31T23:59:59.999Z' })))).toEqual(all);
      expect(texts(await history(a, chatId, q({ to: '9999-12-31T23:59:59.999-01:00' })))).toEqual(all);
      expect(texts(await history(a, chatId, q({ from: '9999-12-31T23:00:00-12:00' })))).toEqual([]);
      [aws, bws].forEach((s) => s.close());
    });
  });

  describe('search as you type', () => {
    it('matches word prefixes case-insensitively in English and Russian, newest first, in a chat and across chats', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const tag = `zq${randomUUID().slice(0, 6)}`; // keeps the cross-chat search to this test's messages
      const quantum = await send(aws, chatId, `Quantum ${tag} computing`);
      const privet = await send(bws, chatId, `Привет, ${tag} мир!`);
      const other = await send(aws, chatId, `quantitative ${tag} easing`);
      const inChat = (term: string) => history(a, chatId, `?${new URLSearchParams({ q: term })}`).then(texts);
      const everywhere = async (term: string) => texts((await t.http().get('/api/messages/search').query({ q: `${tag} ${term}` }).set(a.auth).expect(200)).body.data);

      expect(await inChat('quant')).toEqual([other.text, quantum.text]);
      expect(await inChat('QUANTU')).toEqual([quantum.text]);
      expect(await inChat('прив')).toEqual([privet.text]);
      expect(await inChat('ПРИВЕТ мир')).toEqual([privet.text]);
      expect(await inChat('uantum')).toEqual([]);
      expect(await inChat('comp quant')).toEqual([quantum.text]);
      expect(await inChat(`'"&|!():*`)).toEqual([]);
      expect(await everywhere('qua')).toEqual([other.text, quantum.text]);
      expect(await everywhere('при')).toEqual([privet.text]);
      expect(await everywhere("it's (quant")).toEqual([]);
      [aws, bws].forEach((s) => s.close());
    });

    it("never finds a group's events (SYSTEM messages), in the chat or across chats", async () => {
      const [a, b, c] = await Promise.all([signUp(t), signUp(t), signUp(t)]);
      const group = await createGroup(t, a, [b, c]);
      await t.http().delete(`/api/chats/${group}/leave`).set(c.auth).expect(200);
      await t.http().delete(`/api/chats/${group}/members/${b.id}`).set(a.auth).expect(200);
      // Their text is words a search would match ('member_left', 'member_kicked:<id>').
      expect((await t.backend.sql(`SELECT count(*)::int AS n FROM messages WHERE chat_id = $1 AND type = 'SYSTEM'`, [group]))[0].n).toBeGreaterThanOrEqual(2);
      expect((await history(a, group, '?q=member')).messages).toEqual([]);
      expect((await t.http().get('/api/messages/search?q=member').set(a.auth).expect(200)).body.data.messages).toEqual([]);
    });

    it('never searches a secret chat', async () => {
      const [a, b] = await Promise.all([signUp(t), signUp(t)]);
      const secret = await secretChatWith(a, b);
      await t.backend.sql(`UPDATE messages SET text = 'plaintext leak' WHERE id = $1`, [secret.messageId]);
      expect((await t.http().get('/api/messages/search?q=plaintext').set(a.auth).expect(200)).body.data.messages).toEqual([]);
      expect((await history(a, secret.chatId, '?q=plain')).messages).toEqual([]);
    });
  });

  it('documents the new routes, their queries, responses and error codes in /api/docs', async () => {
    const doc = (await t.http().get('/api/docs-json').expect(200)).body;
    const paramsOf = (path: string, method: string) => doc.paths[path][method].parameters.map((p: { name: string }) => p.name);
    expect(paramsOf('/api/chats/{chatId}/messages/around', 'get')).toEqual(expect.arrayContaining(['chatId', 'date', 'limit']));
    expect(paramsOf('/api/chats/{chatId}/messages', 'get')).toEqual(expect.arrayContaining(['cursor', 'limit', 'q', 'from', 'to', 'senderId', 'type']));
    expect(paramsOf('/api/messages/{id}', 'delete')).toEqual(expect.arrayContaining(['id', 'forEveryone']));
    expect(JSON.stringify(doc.paths['/api/messages/{id}'].delete)).toContain('FORBIDDEN');
    expect(JSON.stringify(doc.paths['/api/messages/{id}/hide'].post)).toContain('MESSAGE_NOT_FOUND');
    expect(JSON.stringify(doc.paths['/api/chats/{chatId}/messages/around'].get)).toContain('CHAT_NOT_FOUND');
    expect(Object.keys(doc.components.schemas.HideResultDto.properties)).toEqual(['messageId', 'hidden']);
  });
});

(TEST_REDIS_URL ? describe : describe.skip)('messages (v2.2) across two instances', () => {
  const cluster = twoInstances();

  it('delivers hide to the caller\'s sockets and delete-for-everyone to every member on the other instance', async () => {
    const { one, two } = cluster;
    const [a, b] = await Promise.all([signUp(one), signUp(one)]);
    const chatId = await openDirect(one, a, b);
    const aOnOne = await connect(one, a);
    const aOnTwo = await connect(two, await signIn(two, a.email));
    const bOnTwo = await connect(two, b);
    const first = await send(aOnOne, chatId, 'first');
    const second = await send(aOnOne, chatId, 'second');
    await bOnTwo.waitFor('message:new', (m) => m.id === second.id);

    await one.http().post(`/api/messages/${second.id}/hide`).set(b.auth).expect(200);
    expect(await bOnTwo.waitFor('message:deleted')).toEqual({ messageId: second.id, chatId, newLastMessage: expect.objectContaining({ id: first.id }) });
    await aOnTwo.expectNo('message:deleted', () => true, 300);

    await one.http().delete(`/api/messages/${first.id}?forEveryone=true`).set(a.auth).expect(200);
    expect(await aOnTwo.waitFor('message:deleted')).toEqual({ messageId: first.id, chatId, newLastMessage: expect.objectContaining({ id: second.id }) });
    expect(await bOnTwo.waitFor('message:deleted')).toEqual({ messageId: first.id, chatId, newLastMessage: null });
    [aOnOne, aOnTwo, bOnTwo].forEach((s) => s.close());
  });
});
