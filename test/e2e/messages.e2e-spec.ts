import { image, ogg } from '../support/media-fixtures';
import { randomUUID } from 'node:crypto';
import { newId } from '../../src/core/database/ids';
import { MessagesRepository } from '../../src/messages/messages.repository';
import { eventually, signIn, signUp, TestUser } from '../support/factories';
import { connect, createGroup, openDirect, send } from '../support/chats';
import { createTestApp, TestApp } from '../support/test-app';
import { WsClient } from '../support/ws-client';
import { MessageViews } from '../../src/messages/message-views';
import { ChatsService } from '../../src/chats/chats.service';
import { BlockPolicy } from '../../src/users/block-policy';
import { holdFirstCall } from '../support/races';

describe('messages', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  /** Two users with a direct chat and a socket each. */
  async function pair(): Promise<{ a: TestUser; b: TestUser; chatId: string; aws: WsClient; bws: WsClient }> {
    const [a, b] = await Promise.all([signUp(t), signUp(t)]);
    const chatId = await openDirect(t, a, b);
    return { a, b, chatId, aws: await connect(t, a), bws: await connect(t, b) };
  }

  describe('sending', () => {
    it('stores the message and delivers message:new to every member, the sender included, then message:delivered', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      aws.send('message:send', { chatId, text: '  hello there  ', clientMessageId: 'm-1' });
      const own = await aws.waitFor('message:new');
      expect(own).toEqual({
        id: expect.any(String),
        chatId,
        seq: 1,
        sender: { id: a.id, nickname: a.nickname, firstName: null, lastName: null, avatar: null },
        text: 'hello there',
        type: 'TEXT',
        mediaUrl: null,
        mediaName: null,
        mediaSize: null,
        isDeleted: false,
        isEdited: false,
        replyToId: null,
        replyTo: null,
        forwardedFromId: null,
        forwardSenderName: null,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
        readReceipts: [],
        reactions: [],
        ciphertext: null,
        signalType: null,
        mediaGroupId: null,
        clientMessageId: 'm-1',
      });
      const theirs = await bws.waitFor('message:new');
      expect(theirs).toEqual({ ...own, clientMessageId: undefined });
      expect(await aws.waitFor('message:delivered')).toEqual({ messageId: own.id, chatId });
      const [row] = await t.backend.sql('SELECT sender_id, text, seq::int FROM messages WHERE id = $1', [own.id]);
      expect(row).toEqual({ sender_id: a.id, text: 'hello there', seq: 1 });
      expect(b.id).not.toBe(a.id);
      aws.close();
      bws.close();
    });

    it('orders ids as it orders sequence numbers, even when sends into one chat race', async () => {
      const { chatId, aws, bws } = await pair();
      await send(aws, chatId, 'first'); // the target sees the chat from the first message on
      await Promise.all(Array.from({ length: 40 }, (_, i) => send(i % 2 ? aws : bws, chatId, `race ${i}`)));
      const bySeq = await t.backend.sql('SELECT id FROM messages WHERE chat_id = $1 ORDER BY seq', [chatId]);
      const byId = await t.backend.sql('SELECT id FROM messages WHERE chat_id = $1 ORDER BY id', [chatId]);
      expect(bySeq).toHaveLength(41);
      expect(byId).toEqual(bySeq);
      aws.close();
      bws.close();
    });

    it('delivers in send order', async () => {
      const { chatId, aws, bws } = await pair();
      for (let i = 0; i < 10; i++) aws.send('message:send', { chatId, text: `n${i}` });
      const received: string[] = [];
      for (let i = 0; i < 10; i++) received.push((await bws.waitFor('message:new')).text);
      expect(received).toEqual(Array.from({ length: 10 }, (_, i) => `n${i}`));
      aws.close();
      bws.close();
    });

    it('does not send message:delivered while nobody else is online', async () => {
      const [a, b] = await Promise.all([signUp(t), signUp(t)]);
      const chatId = await openDirect(t, a, b);
      const aws = await connect(t, a);
      await send(aws, chatId, 'anyone?');
      await aws.expectNo('message:delivered');
      aws.close();
    });

    it('does not send message:delivered while the other member\'s only socket is away, and does once it is back', async () => {
      const { chatId, b, aws, bws } = await pair();
      await send(aws, chatId, 'the chat is open');
      await aws.waitFor('message:delivered');
      bws.send('presence:away');
      await aws.waitFor('user:offline', (p) => p.userId === b.id);
      const unseen = await send(aws, chatId, 'looked away');
      await aws.expectNo('message:delivered', (p) => p.messageId === unseen.id);
      bws.send('presence:back');
      await aws.waitFor('user:online', (p) => p.userId === b.id);
      const seen = await send(aws, chatId, 'back again');
      expect(await aws.waitFor('message:delivered')).toEqual({ messageId: seen.id, chatId });
      aws.close();
      bws.close();
    });

    it('refuses bad messages with message:send:error and stores nothing', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const other = await openDirect(t, a, await signUp(t));
      const elsewhere = await send(aws, other, 'elsewhere');
      const cases: Array<[Record<string, unknown>, string]> = [
        [{ chatId, text: '   ' }, 'VALIDATION_ERROR'],
        [{ chatId, text: 'x'.repeat(4097) }, 'VALIDATION_ERROR'],
        [{ chatId }, 'VALIDATION_ERROR'],
        [{ chatId, text: 'hi', replyToId: elsewhere.id }, 'MESSAGE_NOT_FOUND'],
        [{ chatId, text: 'hi', ciphertext: 'abcd', signalType: 1 }, 'VALIDATION_ERROR'],
        [{ chatId, type: 'IMAGE', mediaUrl: '/uploads/not-mine.png' }, 'MEDIA_NOT_FOUND'],
        [{ chatId, text: 'hi', unknownField: 1 }, 'VALIDATION_ERROR'],
        [{ chatId: 'nope', text: 'hi' }, 'VALIDATION_ERROR'],
      ];
      for (const [payload, code] of cases) {
        const clientMessageId = randomUUID();
        aws.send('message:send', { ...payload, clientMessageId });
        expect(await aws.waitFor('message:send:error')).toMatchObject({ code, message: expect.any(String), clientMessageId });
      }
      expect(await t.backend.sql('SELECT count(*)::int AS n FROM messages WHERE chat_id = $1', [chatId])).toEqual([{ n: 0 }]);
      await bws.expectNo('message:new');
      await t.backend.sql('INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2)', [b.id, a.id]);
      aws.send('message:send', { chatId, text: 'still there?', clientMessageId: 'blocked-1' });
      expect(await aws.waitFor('message:send:error')).toMatchObject({ code: 'BLOCKED', clientMessageId: 'blocked-1' });
      // What is echoed back is a clientMessageId as the contract has it (a short string), never whatever was sent.
      for (const clientMessageId of [{ a: 1 }, 'x'.repeat(60_000)]) {
        aws.send('message:send', { chatId, text: 'q', clientMessageId });
        expect(await aws.waitFor('message:send:error')).not.toHaveProperty('clientMessageId');
      }
      aws.close();
      bws.close();
    });

    it('sends media the sender uploaded, typed by the upload, and refuses anyone else\'s upload', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const photo = (await t.http().post('/api/upload').set(a.auth).attach('file', await image('jpeg'), 'holiday.jpg').expect(201)).body.data;
      aws.send('message:send', { chatId, type: 'FILE', mediaUrl: photo.url, text: 'look', clientMessageId: 'media-1' });
      const sent = await aws.waitFor('message:new', (m) => m.clientMessageId === 'media-1');
      expect(sent).toMatchObject({ type: 'IMAGE', mediaUrl: photo.url, mediaName: 'holiday.jpg', mediaSize: photo.size, text: 'look' });
      const shared = (await t.http().get(`/api/chats/${chatId}/shared?type=IMAGE`).set(b.auth).expect(200)).body.data;
      expect(shared.items).toEqual([{ id: sent.id, type: 'IMAGE', mediaUrl: photo.url, mediaName: 'holiday.jpg', mediaSize: photo.size, text: 'look', createdAt: expect.any(String), sender: expect.objectContaining({ id: a.id }) }]);
      expect((await t.http().get(`/api/chats/${chatId}/shared?tab=files`).set(b.auth).expect(200)).body.data.items).toEqual([]);
      bws.send('message:send', { chatId, type: 'IMAGE', mediaUrl: photo.url, clientMessageId: 'steal-1' });
      expect(await bws.waitFor('message:send:error')).toMatchObject({ code: 'MEDIA_NOT_FOUND', clientMessageId: 'steal-1' });
      aws.close();
      bws.close();
    });

    it('lists the text messages holding a web address in the Links tab, newest first, each with its text; not hidden ones', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const older = await send(aws, chatId, 'see https://example.com/page for details');
      await send(aws, chatId, 'no address here, only example.com');
      const photo = (await t.http().post('/api/upload').set(a.auth).attach('file', await image('png'), 'p.png').expect(201)).body.data;
      await send(aws, chatId, 'a caption with https://example.org', { type: 'IMAGE', mediaUrl: photo.url });
      const newer = await send(bws, chatId, 'HTTP://EXAMPLE.NET too');
      const links = async (user: TestUser, query = '') => (await t.http().get(`/api/chats/${chatId}/shared?tab=links${query}`).set(user.auth).expect(200)).body.data;
      const page = await links(b);
      expect(page.items.map((i: { id: string; text: string; type: string; mediaUrl: string | null }) => [i.id, i.type, i.text, i.mediaUrl])).toEqual([
        [newer.id, 'TEXT', 'HTTP://EXAMPLE.NET too', null],
        [older.id, 'TEXT', 'see https://example.com/page for details', null],
      ]);
      expect((await links(b, '&limit=1')).nextCursor).toBe(newer.id);
      expect((await links(b, `&cursor=${newer.id}`)).items.map((i: { id: string }) => i.id)).toEqual([older.id]);
      await t.http().post(`/api/messages/${older.id}/hide`).set(b.auth).expect(200);
      expect((await links(b)).items.map((i: { id: string }) => i.id)).toEqual([newer.id]);
      expect((await links(a)).items).toHaveLength(2);
      aws.close();
      bws.close();
    });

    it('counts text length in characters: 4096 emoji are accepted', async () => {
      const { chatId, aws, bws } = await pair();
      const text = '😀'.repeat(4096);
      expect((await send(aws, chatId, text)).text).toBe(text);
      aws.close();
      bws.close();
    });

    it('returns the stored message for a repeated clientMessageId instead of a second row', async () => {
      const { a, chatId, aws, bws } = await pair();
      const first = await send(aws, chatId, 'once', { clientMessageId: 'dup-1' });
      const again = await send(aws, chatId, 'once', { clientMessageId: 'dup-1' });
      expect(again.id).toBe(first.id);
      await bws.waitFor('message:new');
      await bws.expectNo('message:new');
      expect(await t.backend.sql('SELECT count(*)::int AS n FROM messages WHERE sender_id = $1', [a.id])).toEqual([{ n: 1 }]);
      aws.close();
      bws.close();
    });

    it('delivers a stored message even when building its views failed once, or its chat:new could not be sent: no send error for what is stored', async () => {
      const [a, b] = await Promise.all([signUp(t), signUp(t)]);
      const chatId = await openDirect(t, a, b);
      const [aws, bws] = [await connect(t, a), await connect(t, b)];
      const views = jest.spyOn(t.app.get(MessageViews), 'buildFresh').mockRejectedValueOnce(new Error('timeout exceeded when trying to connect'));
      const reveal = jest.spyOn(t.app.get(ChatsService), 'publishChat').mockRejectedValueOnce(new Error('Connection terminated'));
      try {
        // The first message reveals the chat to b (chat:new, which fails here) and is built for its members (which fails once).
        const sent = await send(aws, chatId, 'stored is stored');
        expect(await bws.waitFor('message:new', (m) => m.id === sent.id)).toMatchObject({ text: 'stored is stored' });
        await aws.expectNo('message:send:error');
        expect(views).toHaveBeenCalledTimes(2);
        expect(reveal).toHaveBeenCalled();
      } finally {
        views.mockRestore();
        reveal.mockRestore();
      }
      aws.close();
      bws.close();
    });

    it('still tells the members of a message stored but answered with an error (its views failed twice), and answers its retry with it', async () => {
      const [a, b] = [await signUp(t), await signUp(t)];
      const group = await createGroup(t, a, [b]);
      const [aws, bws] = [await connect(t, a), await connect(t, b)];
      // The database away right after the commit: building the message's views fails, and fails again.
      const views = jest
        .spyOn(t.app.get(MessageViews), 'buildFresh')
        .mockRejectedValueOnce(new Error('timeout exceeded when trying to connect'))
        .mockRejectedValueOnce(new Error('timeout exceeded when trying to connect'));
      const clientMessageId = randomUUID();
      try {
        aws.send('message:send', { chatId: group, text: 'committed', clientMessageId });
        await aws.waitFor('message:send:error', (e) => e.clientMessageId === clientMessageId);
      } finally {
        views.mockRestore();
      }
      // The client retries, as it should after an error: answered with the stored message, stored once.
      aws.send('message:send', { chatId: group, text: 'committed', clientMessageId });
      const answer = await aws.waitFor('message:new', (m) => m.clientMessageId === clientMessageId);
      expect(await t.backend.sql('SELECT count(*)::int AS n FROM messages WHERE sender_id = $1', [a.id])).toEqual([{ n: 1 }]);
      // b, online all along, hears of it once it can be built.
      expect(await bws.waitFor('message:new', (m) => m.id === answer.id)).toMatchObject({ text: 'committed', chatId: group });
      aws.close();
      bws.close();
    });

    it('refuses a clientMessageId used in another chat (no retry of that message): VALIDATION_ERROR, nothing of that chat sent back', async () => {
      const { a, chatId, aws, bws } = await pair();
      const other = await signUp(t);
      const elsewhere = await openDirect(t, a, other);
      await send(aws, chatId, 'first chat', { clientMessageId: 'reused-1' });
      aws.send('message:send', { chatId: elsewhere, text: 'second chat', clientMessageId: 'reused-1' });
      const error = await aws.waitFor('message:send:error', (e) => e.clientMessageId === 'reused-1');
      expect(error).toMatchObject({ code: 'VALIDATION_ERROR', errors: { clientMessageId: [expect.any(String)] } });
      await aws.expectNo('message:new', (m) => m.chatId === chatId && m.clientMessageId === 'reused-1');
      expect(await t.backend.sql('SELECT count(*)::int AS n FROM messages WHERE chat_id = $1', [elsewhere])).toEqual([{ n: 0 }]);
      aws.close();
      bws.close();
    });
  });

  describe('history', () => {
    it('pages newest first with the oldest id as cursor, with replies, reactions and read receipts', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const sent = [];
      for (let i = 1; i <= 5; i++) sent.push(await send(aws, chatId, `m${i}`));
      const reply = await send(bws, chatId, 'answer', { replyToId: sent[0].id });
      await t.http().post(`/api/messages/${sent[4].id}/reactions`).set(b.auth).send({ emoji: '🔥' }).expect(200);
      await t.http().post(`/api/messages/${sent[2].id}/read`).set(b.auth).expect(200);

      const page1 = (await t.http().get(`/api/chats/${chatId}/messages?limit=3`).set(a.auth).expect(200)).body.data;
      expect(page1.messages.map((m: { text: string }) => m.text)).toEqual(['answer', 'm5', 'm4']);
      expect(page1.messages[0]).toMatchObject({ id: reply.id, replyToId: sent[0].id, replyTo: { id: sent[0].id, text: 'm1', sender: { id: a.id }, isDeleted: false } });
      expect(page1.messages[1].reactions).toEqual([{ id: expect.any(String), messageId: sent[4].id, userId: b.id, emoji: '🔥', user: { nickname: b.nickname } }]);
      // b replied after reading up to m3, and sending moved b's watermark to its own message
      expect(page1.messages[1].readReceipts).toEqual([{ userId: b.id, readAt: expect.any(String) }]);
      const page2 = (await t.http().get(`/api/chats/${chatId}/messages?limit=3&cursor=${page1.nextCursor}`).set(a.auth).expect(200)).body.data;
      expect(page2.messages.map((m: { text: string }) => m.text)).toEqual(['m3', 'm2', 'm1']);
      expect(page2.nextCursor).toBeNull();
      const rest = (await t.http().get(`/api/chats/${chatId}/messages?limit=3&cursor=${sent[0].id}`).set(a.auth).expect(200)).body.data;
      expect(rest).toEqual({ messages: [], nextCursor: null });
      expect((await t.http().get(`/api/chats/${chatId}/messages?cursor=nope`).set(a.auth).expect(422)).body.code).toBe('VALIDATION_ERROR');
      aws.close();
      bws.close();
    });

    it('searches text with Postgres full-text search, never inside secret chats', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      await send(aws, chatId, 'the quick brown fox');
      await send(aws, chatId, 'lazy dogs sleep');
      const found = (await t.http().get(`/api/chats/${chatId}/messages?q=fox`).set(b.auth).expect(200)).body.data.messages;
      expect(found.map((m: { text: string }) => m.text)).toEqual(['the quick brown fox']);
      expect((await t.http().get(`/api/chats/${chatId}/messages?q=${encodeURIComponent('brown quick')}`).set(b.auth).expect(200)).body.data.messages).toHaveLength(1);
      expect((await t.http().get(`/api/chats/${chatId}/messages?q=cat`).set(b.auth).expect(200)).body.data.messages).toEqual([]);
      const global = (await t.http().get('/api/messages/search?q=dogs').set(b.auth).expect(200)).body.data.messages;
      expect(global.map((m: { text: string }) => m.text)).toEqual(['lazy dogs sleep']);
      // a secret chat holding a (hypothetical) plaintext row is never searched
      const [secret] = await t.backend.sql(`INSERT INTO chats (id, type, pair_key) VALUES (gen_random_uuid(), 'SECRET', $1) RETURNING id`, [`SECRET:${a.id}:${b.id}`]);
      await t.backend.sql(`INSERT INTO chat_members (chat_id, user_id, id, role) VALUES ($1, $2, gen_random_uuid(), 'MEMBER'), ($1, $3, gen_random_uuid(), 'MEMBER')`, [secret.id, a.id, b.id]);
      await t.backend.sql(`INSERT INTO messages (id, chat_id, sender_id, seq, type, text) VALUES (gen_random_uuid(), $1, $2, 1, 'TEXT', 'fox in secret')`, [secret.id, a.id]);
      expect((await t.http().get(`/api/chats/${secret.id}/messages?q=fox`).set(b.auth).expect(200)).body.data.messages).toEqual([]);
      expect((await t.http().get('/api/messages/search?q=fox').set(b.auth).expect(200)).body.data.messages.map((m: { chatId: string }) => m.chatId)).toEqual([chatId]);
      aws.close();
      bws.close();
    });
  });

  describe('edits and deletion', () => {
    it('edits your own text message (message:edited to members) and refuses others', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const message = await send(aws, chatId, 'tpyo');
      const res = await t.http().patch(`/api/messages/${message.id}`).set(a.auth).send({ text: 'typo' }).expect(200);
      expect(res.body.data).toMatchObject({ id: message.id, text: 'typo', isEdited: true });
      expect(await bws.waitFor('message:edited')).toMatchObject({ id: message.id, text: 'typo', isEdited: true });
      expect(await aws.waitFor('message:edited')).toMatchObject({ id: message.id });
      expect((await t.http().patch(`/api/messages/${message.id}`).set(b.auth).send({ text: 'mine now' }).expect(403)).body.code).toBe('NOT_MESSAGE_AUTHOR');
      expect((await t.http().patch(`/api/messages/${message.id}`).set(a.auth).send({ text: '  ' }).expect(422)).body.code).toBe('VALIDATION_ERROR');
      aws.close();
      bws.close();
    });

    it("edits a media message's caption (the client offers Edit on it): the file stays, an empty caption removes it", async () => {
      const { a, chatId, aws, bws } = await pair();
      const { url } = (await t.http().post('/api/upload').set(a.auth).attach('file', await image('png'), 'sunset.png').expect(201)).body.data;
      const photo = await send(aws, chatId, 'sunset', { type: 'IMAGE', mediaUrl: url });
      const res = await t.http().patch(`/api/messages/${photo.id}`).set(a.auth).send({ text: 'sunrise' }).expect(200);
      expect(res.body.data).toMatchObject({ id: photo.id, type: 'IMAGE', mediaUrl: url, text: 'sunrise', isEdited: true });
      expect(await bws.waitFor('message:edited')).toMatchObject({ id: photo.id, mediaUrl: url, text: 'sunrise' });
      expect((await t.http().patch(`/api/messages/${photo.id}`).set(a.auth).send({ text: ' ' }).expect(200)).body.data).toMatchObject({ text: null, mediaUrl: url });
      expect((await t.http().patch(`/api/messages/${photo.id}`).set(a.auth).send({}).expect(422)).body.code).toBe('VALIDATION_ERROR');
      expect(await t.backend.sql('SELECT text, media_url, type FROM messages WHERE id = $1', [photo.id])).toEqual([{ text: null, media_url: url, type: 'IMAGE' }]);
      aws.close();
      bws.close();
    });

    it('deletes your own message permanently and tells members the new last message', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const first = await send(aws, chatId, 'first');
      const second = await send(aws, chatId, 'second');
      expect((await t.http().delete(`/api/messages/${second.id}?forEveryone=true`).set(b.auth).expect(403)).body.code).toBe('FORBIDDEN');
      await t.http().delete(`/api/messages/${second.id}?forEveryone=true`).set(a.auth).expect(200);
      expect(await bws.waitFor('message:deleted')).toEqual({ messageId: second.id, chatId, newLastMessage: expect.objectContaining({ id: first.id, text: 'first' }) });
      expect(await t.backend.sql('SELECT 1 FROM messages WHERE id = $1', [second.id])).toHaveLength(0);
      const chat = (await t.http().get(`/api/chats/${chatId}`).set(b.auth).expect(200)).body.data;
      expect(chat.lastMessage.id).toBe(first.id);
      await t.http().delete(`/api/messages/${second.id}`).set(a.auth).expect(404);
      aws.close();
      bws.close();
    });
  });

  describe('read state', () => {
    it('marks everything up to a message read, over HTTP and the socket, and tells the other members', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const m1 = await send(aws, chatId, 'one');
      const m2 = await send(aws, chatId, 'two');
      expect((await t.http().get(`/api/chats/${chatId}`).set(b.auth).expect(200)).body.data.unread).toBe(2);
      await t.http().post(`/api/messages/${m1.id}/read`).set(b.auth).expect(200);
      expect(await aws.waitFor('message:read')).toEqual({ messageId: m1.id, chatId, readBy: b.id, readAt: expect.any(String) });
      expect((await t.http().get(`/api/chats/${chatId}`).set(b.auth).expect(200)).body.data.unread).toBe(1);
      bws.send('message:read', { messageId: m2.id, chatId });
      expect(await aws.waitFor('message:read')).toMatchObject({ messageId: m2.id, readBy: b.id });
      expect((await t.http().get(`/api/chats/${chatId}`).set(b.auth).expect(200)).body.data.unread).toBe(0);
      // reading an older message again changes nothing and announces nothing
      await t.http().post(`/api/messages/${m1.id}/read`).set(b.auth).expect(200);
      await aws.expectNo('message:read');
      expect(a.id).toBeTruthy();
      aws.close();
      bws.close();
    });

    it("tells the reader's other devices too, so each clears the chat's unread", async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const m = await send(aws, chatId, 'read on the phone');
      const laptop = await connect(t, await signIn(t, b.email));
      bws.send('message:read', { messageId: m.id, chatId });
      expect(await laptop.waitFor('message:read')).toEqual({ messageId: m.id, chatId, readBy: b.id, readAt: expect.any(String) });
      expect(await aws.waitFor('message:read')).toMatchObject({ messageId: m.id, readBy: b.id });
      expect(a.id).not.toBe(b.id);
      for (const ws of [aws, bws, laptop]) ws.close();
    });

    it('counts a deleted message as unread only until it is deleted, for direct chats and for a deleted account in a group', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const unreadOf = async (user: TestUser, id: string) => (await t.http().get(`/api/chats/${id}`).set(user.auth).expect(200)).body.data.unread;
      const m1 = await send(aws, chatId, 'one');
      const m2 = await send(aws, chatId, 'two');
      const m3 = await send(aws, chatId, 'three');
      expect(await unreadOf(b, chatId)).toBe(3);
      await t.http().delete(`/api/messages/${m2.id}`).set(a.auth).expect(200);
      expect(await unreadOf(b, chatId)).toBe(2);
      await t.http().post(`/api/messages/${m3.id}/read`).set(b.auth).expect(200);
      expect(await unreadOf(b, chatId)).toBe(0);
      // a message already read leaves nothing to subtract, and numbers both members read past are pruned
      await t.http().delete(`/api/messages/${m1.id}`).set(a.auth).expect(200);
      expect(await unreadOf(b, chatId)).toBe(0);
      expect(await t.backend.sql('SELECT seq FROM deleted_message_seqs WHERE chat_id = $1', [chatId])).toEqual([]);
      expect((await t.http().get('/api/chats').set(b.auth).expect(200)).body.data.chats[0]).toMatchObject({ id: chatId, unread: 0 });

      const c = await signUp(t);
      const groupId = await createGroup(t, b, [a, c]);
      const cws = await connect(t, c);
      await send(cws, groupId, 'from c');
      await send(cws, groupId, 'from c again');
      await send(aws, groupId, 'from a');
      expect(await unreadOf(b, groupId)).toBe(3);
      await t.http().delete('/api/users/me').set(c.auth).expect(200);
      expect(await unreadOf(b, groupId)).toBe(1);
      [aws, bws, cws].forEach((ws) => ws.close());
    });

    it('keeps reads private when the reader turned read receipts off', async () => {
      const { b, chatId, aws, bws } = await pair();
      await t.backend.sql(`UPDATE user_settings SET settings = '{"showReadReceipts": false}' WHERE user_id = $1`, [b.id]);
      const m = await send(aws, chatId, 'seen?');
      await t.http().post(`/api/messages/${m.id}/read`).set(b.auth).expect(200);
      await aws.expectNo('message:read');
      expect((await t.http().get(`/api/chats/${chatId}`).set(b.auth).expect(200)).body.data.unread).toBe(0);
      aws.close();
      bws.close();
    });

    it('tells the sender when a voice message was listened to', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      await send(aws, chatId, 'warm-up');
      const audio = (await t.http().post('/api/upload').set(a.auth).attach('file', ogg(), 'v.ogg').expect(201)).body.data;
      // A time-ordered id, as the server makes them: history is in id order, and a random one sorts anywhere.
      const [voice] = await t.backend.sql(
        `WITH s AS (UPDATE chats SET message_seq = message_seq + 1 WHERE id = $1 RETURNING message_seq)
         INSERT INTO messages (id, chat_id, sender_id, seq, type, media_url) SELECT $4, $1, $2, s.message_seq, 'AUDIO', $3 FROM s RETURNING id`,
        [chatId, a.id, audio.url, newId()],
      );
      // A chatId that is not the message's: refused as message:read refuses it, and nothing recorded.
      const elsewhere = await createGroup(t, b, [a]);
      bws.send('message:listened', { messageId: voice.id, chatId: elsewhere });
      expect(await bws.waitFor('error')).toMatchObject({ code: 'MESSAGE_NOT_FOUND' });
      await aws.expectNo('message:listened');
      bws.send('message:listened', { messageId: voice.id, chatId });
      expect(await aws.waitFor('message:listened')).toEqual({ messageId: voice.id, chatId, listenedBy: b.id });
      const history = (await t.http().get(`/api/chats/${chatId}/messages`).set(a.auth).expect(200)).body.data.messages;
      expect(history[0]).toMatchObject({ id: voice.id, voiceListens: [{ userId: b.id }] });
      aws.close();
      bws.close();
    });
  });

  it('tells a voice message\'s sender of no listen once they left the group; the listen is still kept', async () => {
    const [owner, sender, listener] = await Promise.all([signUp(t), signUp(t), signUp(t)]);
    const chatId = await createGroup(t, owner, [sender, listener]);
    const audio = (await t.http().post('/api/upload').set(sender.auth).attach('file', ogg(), 'v.ogg').expect(201)).body.data;
    const [voice] = await t.backend.sql(
      `WITH s AS (UPDATE chats SET message_seq = message_seq + 1 WHERE id = $1 RETURNING message_seq)
       INSERT INTO messages (id, chat_id, sender_id, seq, type, media_url) SELECT gen_random_uuid(), $1, $2, s.message_seq, 'AUDIO', $3 FROM s RETURNING id`,
      [chatId, sender.id, audio.url],
    );
    await t.http().delete(`/api/chats/${chatId}/leave`).set(sender.auth).expect(200);
    const sws = await connect(t, sender);
    const lws = await connect(t, listener);
    lws.send('message:listened', { messageId: voice.id });
    await sws.expectNo('message:listened');
    expect(await t.backend.sql('SELECT user_id FROM message_listens WHERE message_id = $1', [voice.id])).toEqual([{ user_id: listener.id }]);
    sws.close();
    lws.close();
  });

  describe('reactions', () => {
    it('adds a reaction once (reaction:added to members, the reactor included) and removes it by URL-encoded emoji', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const m = await send(aws, chatId, 'react to me');
      const res = await t.http().post(`/api/messages/${m.id}/reactions`).set(b.auth).send({ emoji: '❤️' }).expect(200);
      expect(res.body.data).toEqual({ id: expect.any(String), messageId: m.id, userId: b.id, emoji: '❤️' });
      expect(await aws.waitFor('reaction:added')).toEqual({ reaction: res.body.data, chatId, messageId: m.id });
      await bws.waitFor('reaction:added');
      await t.http().post(`/api/messages/${m.id}/reactions`).set(b.auth).send({ emoji: '❤️' }).expect(200);
      await aws.expectNo('reaction:added');
      expect(await t.backend.sql('SELECT count(*)::int AS n FROM reactions WHERE message_id = $1', [m.id])).toEqual([{ n: 1 }]);
      expect((await t.http().post(`/api/messages/${m.id}/reactions`).set(b.auth).send({ emoji: '🍕' }).expect(422)).body.code).toBe('VALIDATION_ERROR');
      await t.http().delete(`/api/messages/${m.id}/reactions/${encodeURIComponent('❤️')}`).set(b.auth).expect(200);
      expect(await aws.waitFor('reaction:removed')).toEqual({ messageId: m.id, userId: b.id, emoji: '❤️', chatId });
      expect(await t.backend.sql('SELECT count(*)::int AS n FROM reactions WHERE message_id = $1', [m.id])).toEqual([{ n: 0 }]);
      expect(a.id).toBeTruthy();
      aws.close();
      bws.close();
    });
  });

  describe('two changes of one message at once', () => {
    /** Runs `first` held between its commit and its telling (its first audienceOf) while `second` runs whole, then lets it finish. */
    async function crossing(first: () => Promise<unknown>, second: () => Promise<unknown>): Promise<void> {
      const held = holdFirstCall(MessagesRepository.prototype, 'audienceOf');
      try {
        const running = first();
        await eventually(async () => expect(held.calls()).toBe(1));
        await second();
        held.release();
        await running;
      } finally {
        held.restore();
      }
    }

    it('leaves the other member on the text stored by the edit that won', async () => {
      const { a, chatId, aws, bws } = await pair();
      const m = await send(aws, chatId, 'draft one');
      const edit = (text: string) => t.http().patch(`/api/messages/${m.id}`).set(a.auth).send({ text }).expect(200).then((res) => res);
      await crossing(() => edit('first edit'), () => edit('second edit'));
      const [stored] = await t.backend.sql<{ text: string }>('SELECT text FROM messages WHERE id = $1', [m.id]);
      expect(stored.text).toBe('second edit');
      await eventually(async () => {
        const edits = bws.received.filter((f) => f.event === 'message:edited' && f.payload.id === m.id);
        expect(edits[edits.length - 1].payload.text).toBe(stored.text);
      });
      aws.close();
      bws.close();
    });

    it('leaves the other member with the message deleted when an edit and a delete cross', async () => {
      const { a, chatId, aws, bws } = await pair();
      const m = await send(aws, chatId, 'soon gone');
      await crossing(
        () => t.http().patch(`/api/messages/${m.id}`).set(a.auth).send({ text: 'edited' }).expect(200).then((res) => res),
        () => t.http().delete(`/api/messages/${m.id}?forEveryone=true`).set(a.auth).expect(200).then((res) => res),
      );
      await eventually(async () => {
        const told = bws.received.filter((f) => (f.event === 'message:edited' && f.payload.id === m.id) || (f.event === 'message:deleted' && f.payload.messageId === m.id));
        expect(told[told.length - 1].event).toBe('message:deleted');
      });
      aws.close();
      bws.close();
    });

    it('leaves the other member on the reactions stored when an add and a remove cross', async () => {
      const { b, chatId, aws, bws } = await pair();
      const m = await send(aws, chatId, 'tap tap');
      const url = `/api/messages/${m.id}/reactions`;
      await crossing(
        () => t.http().post(url).set(b.auth).send({ emoji: '👍' }).expect(200).then((res) => res),
        () => t.http().delete(`${url}/${encodeURIComponent('👍')}`).set(b.auth).expect(200).then((res) => res),
      );
      expect(await t.backend.sql('SELECT 1 FROM reactions WHERE message_id = $1', [m.id])).toEqual([]);
      await eventually(async () => {
        const told = aws.received.filter((f) => ['reaction:added', 'reaction:removed'].includes(f.event) && f.payload.messageId === m.id);
        expect(told[told.length - 1].event).toBe('reaction:removed');
      });
      aws.close();
      bws.close();
    });
  });

  describe('a change under way while its author is removed or blocked', () => {
    /**
     * Starts `change` and holds it once its check (`prototype[method]`) has passed, runs
     * `meanwhile` whole, then lets the change go on: resolves its answer.
     */
    async function heldWhile<T extends object>(prototype: T, method: keyof T & string, change: () => PromiseLike<{ status: number; body: any }>, meanwhile: () => PromiseLike<unknown>) {
      const held = holdFirstCall(prototype, method);
      try {
        // Promise.resolve takes the request's `then`, which sends it.
        const answer = Promise.resolve(change());
        await eventually(async () => expect(held.calls()).toBe(1));
        await meanwhile();
        held.release();
        const res = await answer;
        return { status: res.status, code: res.body.code };
      } finally {
        held.restore();
      }
    }

    async function group() {
      const [owner, member] = await Promise.all([signUp(t), signUp(t)]);
      const chatId = await createGroup(t, owner, [member]);
      const [ows, mws] = [await connect(t, owner), await connect(t, member)];
      const removal = () => t.http().delete(`/api/chats/${chatId}/members/${member.id}`).set(owner.auth).expect(200);
      return { owner, member, chatId, ows, mws, removal };
    }

    it('refuses the edit of a member removed meanwhile: the text stays, and no message:edited follows member_kicked', async () => {
      const { member, chatId, ows, mws, removal } = await group();
      const m = await send(mws, chatId, 'as it was');
      await ows.waitFor('message:new', (e) => e.id === m.id);
      const edit = () => t.http().patch(`/api/messages/${m.id}`).set(member.auth).send({ text: 'after my removal' });
      expect(await heldWhile(ChatsService.prototype, 'requireMember', edit, removal)).toEqual({ status: 404, code: 'MESSAGE_NOT_FOUND' });
      expect(await t.backend.sql('SELECT text, is_edited FROM messages WHERE id = $1', [m.id])).toEqual([{ text: 'as it was', is_edited: false }]);
      await ows.waitFor('message:new', (e) => e.text === `member_kicked:${member.id}`);
      await ows.expectNo('message:edited');
      ows.close();
      mws.close();
    });

    it('refuses the reaction of a member removed meanwhile: none is stored or told', async () => {
      const { member, chatId, ows, mws, removal } = await group();
      const m = await send(ows, chatId, 'react before you go');
      const react = () => t.http().post(`/api/messages/${m.id}/reactions`).set(member.auth).send({ emoji: '👍' });
      expect(await heldWhile(ChatsService.prototype, 'requireMember', react, removal)).toEqual({ status: 404, code: 'MESSAGE_NOT_FOUND' });
      expect(await t.backend.sql('SELECT 1 FROM reactions WHERE message_id = $1', [m.id])).toEqual([]);
      await ows.expectNo('reaction:added');
      ows.close();
      mws.close();
    });

    it('refuses an edit in a direct chat blocked meanwhile: BLOCKED, the text stays, and the blocker is not told', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const m = await send(aws, chatId, 'as it was');
      await bws.waitFor('message:new', (e) => e.id === m.id);
      const edit = () => t.http().patch(`/api/messages/${m.id}`).set(a.auth).send({ text: 'after the block' });
      const block = () => t.http().post(`/api/users/${a.id}/block`).set(b.auth).expect(200);
      expect(await heldWhile(BlockPolicy.prototype, 'requireInChat', edit, block)).toEqual({ status: 403, code: 'BLOCKED' });
      expect(await t.backend.sql('SELECT text, is_edited FROM messages WHERE id = $1', [m.id])).toEqual([{ text: 'as it was', is_edited: false }]);
      await bws.expectNo('message:edited');
      aws.close();
      bws.close();
    });

    it('refuses a pin in a direct chat blocked meanwhile: BLOCKED, nothing pinned, and the blocker is not told', async () => {
      const { a, b, chatId, aws, bws } = await pair();
      const m = await send(aws, chatId, 'pin me');
      await bws.waitFor('message:new', (e) => e.id === m.id);
      const pin = () => t.http().patch(`/api/chats/${chatId}/pin`).set(a.auth).send({ messageId: m.id });
      const block = () => t.http().post(`/api/users/${a.id}/block`).set(b.auth).expect(200);
      expect(await heldWhile(BlockPolicy.prototype, 'requireInChat', pin, block)).toEqual({ status: 403, code: 'BLOCKED' });
      expect(await t.backend.sql('SELECT pinned_message_id FROM chats WHERE id = $1', [chatId])).toEqual([{ pinned_message_id: null }]);
      await bws.expectNo('chat:updated');
      aws.close();
      bws.close();
    });
  });

  it('fans a group message out to every member', async () => {
    const [owner, ...others] = await Promise.all(Array.from({ length: 4 }, () => signUp(t)));
    const chatId = await createGroup(t, owner, others);
    const sockets = await Promise.all(others.map((u) => connect(t, u)));
    const ows = await connect(t, owner);
    const m = await send(ows, chatId, 'hello all');
    for (const s of sockets) expect(await s.waitFor('message:new')).toMatchObject({ id: m.id, text: 'hello all' });
    [...sockets, ows].forEach((s) => s.close());
  });
});
