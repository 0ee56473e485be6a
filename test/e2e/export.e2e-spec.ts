import { randomUUID } from 'node:crypto';
import { get, IncomingMessage } from 'node:http';
import { connect, createGroup, openDirect, send } from '../support/chats';
import { eventually, signUp, TestUser } from '../support/factories';
import { faultLines } from '../support/fuzz';
import * as fixtures from '../support/media-fixtures';
import { createSignalDevice } from '../support/signal';
import { TEST_REDIS_URL } from '../support/env';
import { ExportService } from '../../src/export/export.service';
import { createTestApp, TestApp, twoInstances } from '../support/test-app';

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

/** Every tag the exported page is built from: anything else in it came from the data. */
const PAGE_TAGS = new Set(['!DOCTYPE', 'html', 'head', 'meta', 'title', 'style', 'body', 'header', 'h1', 'h2', 'p', 'time', 'section', 'ol', 'li', 'div', 'span', 'a', 'footer']);

/**
 * wire-contract-v2.2 §14: the export of all chats and of one chat, opened as the web client does
 * (a top-level navigation in a new tab: the session cookie and no X-Requested-With).
 */
describe('data export (v2.2 §14)', () => {
  let t: TestApp;
  // Log capture (the first app of the file) shows what the server did with an export the client dropped.
  beforeAll(async () => (t = await createTestApp({ captureLogs: true })));
  afterAll(async () => {
    const faults = faultLines(t.logs);
    await t.close();
    expect(faults).toEqual([]);
  });

  const users = async (n: number): Promise<TestUser[]> => Promise.all(Array.from({ length: n }, () => signUp(t)));
  /** As the browser opens it: the cookie only. */
  const download = (user: TestUser, path: string) => t.http().get(path).set('Cookie', user.cookie);
  const exportAll = (user: TestUser, format = 'json') => download(user, `/api/chats/export/all?format=${format}`);
  const exportChat = (user: TestUser, chatId: string, format = 'json') => download(user, `/api/chats/${chatId}/export?format=${format}`);
  const texts = (chat: { messages: Array<{ text: string | null }> }) => chat.messages.map((m) => m.text);

  /** A secret chat of a and b holding one ciphertext message. */
  async function secretChat(a: TestUser, b: TestUser): Promise<string> {
    const device = await createSignalDevice({ preKeyCount: 1 });
    await t.http().post('/api/keys/bundle').set(b.auth).send(device.bundle).expect(201);
    const chatId = (await t.http().post('/api/chats/secret').set(a.auth).send({ targetUserId: b.id }).expect(200)).body.data.id;
    const ws = await connect(t, a);
    const clientMessageId = randomUUID();
    ws.send('message:send', { chatId, ciphertext: 'c2VjcmV0IGJ5dGVz', signalType: 1, clientMessageId });
    await ws.waitFor('message:new', (m) => m.clientMessageId === clientMessageId);
    ws.close();
    return chatId;
  }

  describe('GET /api/chats/export/all?format=json', () => {
    it('holds every chat but secret ones, archived and saved messages included, with the messages the caller sees, oldest first', async () => {
      const [a, b, c] = await users(3);
      await t.http().patch('/api/users/me').set(b.auth).send({ firstName: 'Bea', lastName: 'Brown' }).expect(200);
      const direct = await openDirect(t, a, b);
      const group = await createGroup(t, a, [b, c], 'Weekend');
      const saved = (await t.http().post('/api/chats/saved').set(a.auth).expect(201)).body.data.id;
      const secret = await secretChat(a, b);
      const [aws, bws] = [await connect(t, a), await connect(t, b)];
      const first = await send(aws, direct, 'first');
      await send(bws, direct, 'second');
      const hidden = await send(aws, direct, 'hidden by a');
      const deleted = await send(bws, direct, 'deleted for everyone');
      const last = await send(aws, direct, 'last', { replyToId: first.id });
      await send(bws, group, 'in the group');
      await send(aws, saved, 'note to self');
      await t.http().post(`/api/messages/${hidden.id}/hide`).set(a.browser).expect(200);
      await t.http().delete(`/api/messages/${deleted.id}?forEveryone=true`).set(b.browser).expect(200);
      await t.http().patch(`/api/chats/${group}/archive`).set(a.browser).send({ archived: true }).expect(200);
      aws.close();
      bws.close();

      const res = await exportAll(a).expect(200);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      const body = res.body;
      expect(res.headers['content-disposition']).toBe(`attachment; filename="h2v-export-${body.exportedAt.slice(0, 10)}.json"`);
      expect(body).not.toHaveProperty('success');
      expect(body.exportedAt).toMatch(ISO);
      expect(body.user).toEqual({ id: a.id, nickname: a.nickname, firstName: null, lastName: null });
      // Creation order (ids are UUIDv7); the secret chat is left out.
      expect(body.chats.map((chat: { id: string }) => chat.id)).toEqual([direct, group, saved]);
      expect(body.chats.map((chat: { id: string }) => chat.id)).not.toContain(secret);

      const [directChat, groupChat, savedChat] = body.chats;
      expect(directChat).toEqual({
        id: direct,
        type: 'DIRECT',
        name: 'Bea Brown',
        members: [
          { id: a.id, nickname: a.nickname, firstName: null, lastName: null },
          { id: b.id, nickname: b.nickname, firstName: 'Bea', lastName: 'Brown' },
        ],
        messages: expect.any(Array),
      });
      expect(texts(directChat)).toEqual(['first', 'second', 'last']);
      expect(directChat.messages[2]).toEqual({
        id: last.id,
        senderId: a.id,
        senderName: a.nickname,
        type: 'TEXT',
        text: 'last',
        mediaUrl: null,
        mediaName: null,
        forwardSenderName: null,
        createdAt: last.createdAt,
        isEdited: false,
      });
      expect(directChat.messages[1]).toMatchObject({ senderId: b.id, senderName: 'Bea Brown' });
      expect(groupChat).toMatchObject({ type: 'GROUP', name: 'Weekend' });
      expect(groupChat.members.map((m: { id: string }) => m.id).sort()).toEqual([a.id, b.id, c.id].sort());
      expect(texts(groupChat)).toEqual(['in the group']);
      expect(savedChat).toMatchObject({ type: 'SELF', name: 'Saved Messages', members: [{ id: a.id }] });
      expect(texts(savedChat)).toEqual(['note to self']);

      // Hiding is a's alone: b's export still has the message, and neither has the deleted one.
      const ofB = (await exportAll(b).expect(200)).body;
      expect(texts(ofB.chats.find((chat: { id: string }) => chat.id === direct))).toEqual(['first', 'second', 'hidden by a', 'last']);
      expect(ofB.chats.find((chat: { id: string }) => chat.id === direct).name).toBe(a.nickname);
    });

    it('gives media as their /uploads paths, with their names, and edits and forwards as the messages carry them', async () => {
      const [a, b] = await users(2);
      const direct = await openDirect(t, a, b);
      const upload = (await t.http().post('/api/upload').set(a.auth).attach('file', await fixtures.image('png', 8, 8), 'dot.png').expect(201)).body.data;
      const aws = await connect(t, a);
      const photo = await send(aws, direct, '', { type: 'IMAGE', mediaUrl: upload.url, mediaName: 'holiday.png' });
      const edited = await send(aws, direct, 'draft');
      await t.http().patch(`/api/messages/${edited.id}`).set(a.browser).send({ text: 'final' }).expect(200);
      await send(aws, direct, 'passed on', { forwardedFromId: edited.id });
      aws.close();

      const chat = (await exportAll(a).expect(200)).body.chats[0];
      expect(chat.messages.map((m: any) => [m.type, m.text, m.mediaUrl, m.mediaName, m.isEdited, m.forwardSenderName])).toEqual([
        ['IMAGE', photo.text, upload.url, 'holiday.png', false, null],
        ['TEXT', 'final', null, null, true, null],
        ['TEXT', 'final', null, null, false, a.nickname],
      ]);
      expect(upload.url).toMatch(/^\/uploads\//);
    });

    it('reads long histories and many chats page by page, in order, with nothing skipped or repeated', async () => {
      const [a, b] = await users(2);
      const big = await openDirect(t, a, b);
      const count = 1_234;
      await t.backend.sql(
        `WITH inserted AS (
           INSERT INTO messages (id, chat_id, sender_id, seq, type, text, created_at, updated_at)
           SELECT (lpad(to_hex((extract(epoch FROM b.base + interval '1 ms' * g) * 1000)::bigint), 12, '0') || '7' || substr(md5(g::text), 1, 3) || '8' || substr(md5(g::text), 4, 15))::uuid,
                  $1, CASE WHEN g % 2 = 0 THEN $2::uuid ELSE $3::uuid END, g, 'TEXT', 'bulk ' || g, b.base + interval '1 ms' * g, b.base + interval '1 ms' * g
             FROM generate_series(1, $4::int) g, (SELECT now() - interval '1 hour' AS base) b
           RETURNING id, seq)
         UPDATE chats SET message_seq = $4, last_message_id = (SELECT id FROM inserted WHERE seq = $4) WHERE id = $1`,
        [big, a.id, b.id, count],
      );
      await t.backend.sql(`UPDATE chat_members SET visible = true WHERE chat_id = $1`, [big]);
      // a hid message 500 (the last of the first page) and 501.
      await t.backend.sql(
        `INSERT INTO message_hides (user_id, chat_id, seq, message_id) SELECT $2, chat_id, seq, id FROM messages WHERE chat_id = $1 AND seq IN (500, 501)`,
        [big, a.id],
      );
      await t.backend.sql(`UPDATE chat_members SET hides_messages = true WHERE chat_id = $1 AND user_id = $2`, [big, a.id]);
      // 150 more groups of a's (two pages of chats), made in bulk.
      const groups = (await t.backend.sql(
        `WITH made AS (INSERT INTO chats (id, type, name) SELECT gen_random_uuid(), 'GROUP', 'bulk group ' || g FROM generate_series(1, 150) g RETURNING id)
         INSERT INTO chat_members (chat_id, user_id, id, role) SELECT id, $1, gen_random_uuid(), 'OWNER' FROM made RETURNING chat_id`,
        [a.id],
      )) as Array<{ chat_id: string }>;

      const body = (await exportAll(a).expect(200)).body;
      expect(body.chats.map((chat: { id: string }) => chat.id)).toEqual([big, ...groups.map((g) => g.chat_id)].sort());
      const history = body.chats.find((chat: { id: string }) => chat.id === big).messages;
      const expected = Array.from({ length: count }, (_, i) => `bulk ${i + 1}`).filter((text) => text !== 'bulk 500' && text !== 'bulk 501');
      expect(history.map((m: { text: string }) => m.text)).toEqual(expected);
      expect(new Set(history.map((m: { id: string }) => m.id)).size).toBe(count - 2);
      expect(texts((await exportChat(b, big).expect(200)).body.chats[0])).toHaveLength(count);
    });

    it('stops reading when the client goes away mid-download, and keeps serving', async () => {
      const [a, b] = await users(2);
      const chatId = await openDirect(t, a, b);
      // About 20 MB of JSON, more than loopback socket buffers hold (a few MB): the download is
      // still going when the client, which never reads, leaves. (Long media names, not texts, so
      // no search vector has to be built.)
      const count = 10_000;
      await t.backend.sql(
        `INSERT INTO messages (id, chat_id, sender_id, seq, type, media_name, created_at, updated_at)
         SELECT (lpad(to_hex((extract(epoch FROM b.base + interval '1 ms' * g) * 1000)::bigint), 12, '0') || '7' || substr(md5(g::text), 1, 3) || '8' || substr(md5(g::text), 4, 15))::uuid,
                $1, $2, g, 'FILE', repeat('x', 2000), b.base + interval '1 ms' * g, b.base + interval '1 ms' * g
           FROM generate_series(1, $3::int) g, (SELECT now() - interval '1 hour' AS base) b`,
        [chatId, a.id, count],
      );
      const res = await new Promise<IncomingMessage>((resolve, reject) =>
        get(`${t.url}/api/chats/export/all?format=json`, { headers: { Cookie: a.cookie } }, resolve).once('error', reject),
      );
      expect(res.statusCode).toBe(200);
      res.destroy();
      await eventually(async () => expect(t.logs.join('')).toContain('stopped: the client went away'), 15_000);
      await t.http().get('/api/users/me').set(a.auth).expect(200);
    });
  });

  describe('a download read slowly (the reader loses their rights meanwhile)', () => {
    /** The export as the service produces it, one piece at a time: the test decides when the next page is read. */
    async function exportOf(user: TestUser) {
      const [{ id: sessionId }] = await t.backend.sql(`SELECT id FROM sessions WHERE user_id = $1`, [user.id]);
      const file = await t.app.get(ExportService).open({ userId: user.id, sessionId }, { format: 'json', chatId: null, mediaOrigin: null });
      return file.chunks[Symbol.asyncIterator]();
    }
    /** Reads pieces until one opens the chat; resolves what was read. */
    async function readUntilChat(pieces: AsyncIterator<string>, chatId: string): Promise<string> {
      let read = '';
      for (let next = await pieces.next(); !next.done; next = await pieces.next()) {
        read += next.value;
        if (next.value.includes(chatId)) return read;
      }
      throw new Error(`the export never reached ${chatId}`);
    }
    async function readToEnd(pieces: AsyncIterator<string>): Promise<string> {
      let read = '';
      for (let next = await pieces.next(); !next.done; next = await pieces.next()) read += next.value;
      return read;
    }

    it('leaves out the messages of a chat the reader was removed from before its page was read', async () => {
      const [owner, reader] = await users(2);
      const chatId = await createGroup(t, owner, [reader]);
      const ows = await connect(t, owner);
      await send(ows, chatId, 'said before the removal');
      const pieces = await exportOf(reader);
      let file = await readUntilChat(pieces, chatId);
      await t.http().delete(`/api/chats/${chatId}/members/${reader.id}`).set(owner.auth).expect(200);
      await send(ows, chatId, 'said after the removal');
      file += await readToEnd(pieces);
      const group = JSON.parse(file).chats.find((chat: { id: string }) => chat.id === chatId);
      expect(texts(group)).toEqual([]);
      ows.close();
    });

    it("ends as a failed transfer, with nothing more read, when the reader's session ended meanwhile", async () => {
      const [reader, b, c] = await users(3);
      const first = await openDirect(t, reader, b);
      const second = await openDirect(t, reader, c);
      const rws = await connect(t, reader);
      await send(rws, first, 'in the first chat');
      await send(rws, second, 'in the second chat');
      const pieces = await exportOf(reader);
      await readUntilChat(pieces, first);
      await t.http().post('/api/auth/logout').set(reader.auth).expect(200);
      const after: string[] = [];
      const rest = (async () => {
        for (let next = await pieces.next(); !next.done; next = await pieces.next()) after.push(next.value);
      })();
      await expect(rest).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
      expect(after.join('')).not.toMatch(/in the (first|second) chat/);
    });

    it("ends as a failed transfer when the session ends after the last chat, before the file's end", async () => {
      const [reader, b] = [await signUp(t), await signUp(t)];
      const only = await openDirect(t, reader, b);
      const rws = await connect(t, reader);
      await send(rws, only, 'the only chat');
      rws.close();
      const pieces = await exportOf(reader);
      await readUntilChat(pieces, only);
      // Its messages, then its end: the file's end comes next.
      expect((await pieces.next()).value).toContain('the only chat');
      for (let next = await pieces.next(); !next.done && !String(next.value).includes(']'); next = await pieces.next());
      await t.http().post('/api/auth/logout').set(reader.auth).expect(200);
      await expect(pieces.next()).rejects.toMatchObject({ code: 'UNAUTHORIZED' });
      rws.close();
    });
  });

  describe('GET /api/chats/export/all?format=html', () => {
    it('is a self-contained page with a strict policy, the chats and their messages oldest first', async () => {
      const [a, b] = await users(2);
      const direct = await openDirect(t, a, b);
      const upload = (await t.http().post('/api/upload').set(a.auth).attach('file', await fixtures.image('png', 8, 8), 'dot.png').expect(201)).body.data;
      const aws = await connect(t, a);
      await send(aws, direct, 'good morning');
      await send(aws, direct, 'good night');
      await send(aws, direct, '', { type: 'IMAGE', mediaUrl: upload.url, mediaName: 'sunset.png' });
      aws.close();

      const res = await exportAll(a, 'html').expect(200);
      expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(res.headers['content-disposition']).toMatch(/^attachment; filename="h2v-export-\d{4}-\d\d-\d\d\.html"$/);
      expect(res.headers['content-security-policy']).toContain("default-src 'none'");
      expect(res.headers['content-security-policy']).not.toContain('script-src');
      const page = res.text;
      expect(page.startsWith('<!DOCTYPE html>')).toBe(true);
      expect(page.trimEnd().endsWith('</html>')).toBe(true);
      expect(page).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;;`);
      expect(page.indexOf('good morning')).toBeLessThan(page.indexOf('good night'));
      expect(page).toContain(b.nickname);
      // Media are links to the server the export came from, absolute so they work from a saved file.
      expect(page).toContain(`<a href="${t.url}${upload.url}" rel="noopener noreferrer" target="_blank">Photo: sunset.png</a>`);
      expect(page).not.toMatch(/<script|<img|<link|src=/i);
    });

    it('escapes every user-controlled string: names, group names, message texts and media names never become markup', async () => {
      const [a, b] = await users(2);
      const script = '<script>alert(1)</script>';
      const breakout = '"><img src=x onerror=alert(1)>';
      await t.http().patch('/api/users/me').set(b.auth).send({ firstName: script, lastName: breakout }).expect(200);
      const group = await createGroup(t, a, [b], `${breakout}${script}`);
      const upload = (await t.http().post('/api/upload').set(b.auth).attach('file', await fixtures.image('png', 8, 8), 'dot.png').expect(201)).body.data;
      const bws = await connect(t, b);
      await send(bws, group, script);
      await send(bws, group, `</div></li></ol></section><svg onload=alert(1)>`);
      await send(bws, group, "<a href='javascript:alert(1)'>click</a>");
      await send(bws, group, 'caption', { type: 'IMAGE', mediaUrl: upload.url, mediaName: `${breakout}.png` });
      bws.close();

      const page = (await exportAll(a, 'html').expect(200)).text;
      const tags = [...page.matchAll(/<\/?([!A-Za-z][^\s>/]*)/g)].map((m) => m[1]);
      expect(tags.filter((tag) => !PAGE_TAGS.has(tag))).toEqual([]);
      const markup = [...page.matchAll(/<[^>]*>/g)].map((m) => m[0]);
      expect(markup.filter((tag) => /\son\w+\s*=|javascript:/i.test(tag))).toEqual([]);
      expect(markup.filter((tag) => tag.startsWith('<a ')).map((tag) => /href="([^"]*)"/.exec(tag)?.[1])).toEqual([`${t.url}${upload.url}`]);
      expect(page).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
      expect(page).toContain('&quot;&gt;&lt;img src=x onerror=alert(1)&gt;');
      expect(page).toContain('&lt;/div&gt;&lt;/li&gt;&lt;/ol&gt;&lt;/section&gt;&lt;svg onload=alert(1)&gt;');
      expect(page).toContain('&lt;a href=&#39;javascript:alert(1)&#39;&gt;click&lt;/a&gt;');
    });
  });

  describe('GET /api/chats/:id/export', () => {
    it('exports one chat to its members, and answers 404 CHAT_NOT_FOUND to anyone else', async () => {
      const [a, b, outsider] = await users(3);
      const group = await createGroup(t, a, [b], 'Only this');
      await createGroup(t, a, [b], 'Not this');
      const bws = await connect(t, b);
      await send(bws, group, 'inside');
      bws.close();

      const one = await exportChat(b, group).expect(200);
      expect(one.headers['content-disposition']).toMatch(/^attachment; filename="h2v-export-\d{4}-\d\d-\d\d\.json"$/);
      expect(one.body.user.id).toBe(b.id);
      expect(one.body.chats).toHaveLength(1);
      expect(one.body.chats[0]).toMatchObject({ id: group, name: 'Only this' });
      expect(texts(one.body.chats[0])).toEqual(['inside']);
      expect((await exportChat(a, group, 'html').expect(200)).text).toContain('inside');

      for (const id of [group, randomUUID(), 'not-a-chat']) {
        const res = await exportChat(outsider, id).expect(404);
        expect(res.body).toEqual({ success: false, code: 'CHAT_NOT_FOUND', message: expect.any(String) });
      }
    });

    it('answers 404 to the target of a direct chat that has no message yet, and 400 SECRET_CHAT_RESTRICTED for a secret chat', async () => {
      const [a, b] = await users(2);
      const direct = await openDirect(t, a, b);
      expect((await exportChat(b, direct).expect(404)).body.code).toBe('CHAT_NOT_FOUND');
      expect((await exportChat(a, direct).expect(200)).body.chats[0].messages).toEqual([]);
      const secret = await secretChat(a, b);
      expect((await exportChat(a, secret).expect(400)).body).toMatchObject({ success: false, code: 'SECRET_CHAT_RESTRICTED' });
    });
  });

  describe('refusals', () => {
    it('answers 422 VALIDATION_ERROR for a missing or unknown format, and 401 without a session, in the envelope', async () => {
      const [a] = await users(1);
      for (const path of ['/api/chats/export/all', '/api/chats/export/all?format=pdf', '/api/chats/export/all?format=html&format=json']) {
        const res = await download(a, path).expect(422);
        expect(res.body).toMatchObject({ success: false, code: 'VALIDATION_ERROR', errors: { format: expect.any(Array) } });
      }
      expect((await t.http().get('/api/chats/export/all?format=html').expect(401)).body.code).toBe('UNAUTHORIZED');
    });

    it('lists both routes in the API docs: the format parameter, the file types and the JSON shape, and the error codes', async () => {
      const doc = (await t.http().get('/api/docs-json').expect(200)).body;
      for (const [path, codes] of [
        ['/api/chats/export/all', ['200', '401', '422', '429']],
        ['/api/chats/{id}/export', ['200', '400', '401', '404', '422', '429']],
      ] as const) {
        const op = doc.paths[path]?.get;
        expect(Object.keys(op.responses).sort()).toEqual([...codes]);
        expect(op.parameters).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'format', in: 'query', required: true, schema: expect.objectContaining({ enum: ['html', 'json'] }) })]));
        expect(Object.keys(op.responses['200'].content).sort()).toEqual(['application/json', 'text/html']);
      }
      expect(Object.keys(doc.components.schemas.ExportFileDto.properties)).toEqual(['exportedAt', 'user', 'chats']);
      expect(Object.keys(doc.components.schemas.ExportMessageDto.properties)).toEqual([
        'id', 'senderId', 'senderName', 'type', 'text', 'mediaUrl', 'mediaName', 'forwardSenderName', 'createdAt', 'isEdited',
      ]);
    });

    it('allows 3 exports an hour per user, both routes together, then answers 429 RATE_LIMIT; others are not affected', async () => {
      const [a, b] = await users(2);
      const group = await createGroup(t, a, [b]);
      await exportAll(a, 'html').expect(200);
      await exportChat(a, group).expect(200);
      // Refused requests (a bad format, an unknown chat) are not exports and do not count.
      await exportAll(a, 'xml').expect(422);
      await exportChat(a, randomUUID()).expect(404);
      await exportAll(a).expect(200);
      const refused = await exportAll(a, 'html').expect(429);
      expect(refused.body).toEqual({ success: false, code: 'RATE_LIMIT', message: expect.any(String), retryAfter: expect.any(Number) });
      expect(refused.body.retryAfter).toBeGreaterThan(3000);
      expect(refused.body.retryAfter).toBeLessThanOrEqual(3600);
      expect(Number(refused.headers['retry-after'])).toBe(refused.body.retryAfter);
      expect((await exportChat(a, group).expect(429)).body.code).toBe('RATE_LIMIT');
      await exportAll(b).expect(200);
    });
  });
});

(TEST_REDIS_URL ? describe : describe.skip)('data export across two instances', () => {
  const cluster = twoInstances();

  it('counts the hourly exports of a user on every instance together', async () => {
    const { one, two } = cluster;
    const user = await signUp(one);
    const exportOn = (t: TestApp) => t.http().get('/api/chats/export/all?format=html').set('Cookie', user.cookie);
    await exportOn(one).expect(200);
    await exportOn(two).expect(200);
    await exportOn(one).expect(200);
    expect((await exportOn(two).expect(429)).body.code).toBe('RATE_LIMIT');
    expect((await exportOn(one).expect(429)).body.code).toBe('RATE_LIMIT');
  });
});
