import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { connect, createGroup, openDirect, send } from '../support/chats';
import { textDraft } from '../support/drafts';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../support/env';
import { eventually, signIn, signUp, TestUser } from '../support/factories';
import { lockWaiters } from '../support/races';
import { createTestApp, TestApp, twoInstances } from '../support/test-app';
import { WsClient } from '../support/ws-client';
import { NewMessage, StoredMessage } from '../../src/messages/messages.repository';
import { SendBatcher } from '../../src/messages/send-batcher';
import { Metrics } from '../../src/core/metrics/metrics';

/** A text draft with a clientMessageId of its own. */
const draft = (chatId: string, senderId: string, text: string, extra: Partial<NewMessage> = {}): NewMessage => textDraft(chatId, senderId, text, { clientMessageId: randomUUID(), ...extra });

/** Every message:new of the chat a socket gets, in arrival order. */
function collect(ws: WsClient, chatId: string): Array<{ id: string; seq: number; clientMessageId?: string }> {
  const seen: Array<{ id: string; seq: number; clientMessageId?: string }> = [];
  ws.socket.on('message', (data) => {
    const frame = JSON.parse(data.toString());
    if (frame.event === 'message:new' && frame.payload.chatId === chatId) seen.push(frame.payload);
  });
  return seen;
}

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

interface Row {
  id: string;
  seq: number;
  text: string;
  sender_id: string;
  client_message_id: string;
}

async function storedRows(t: TestApp, chatId: string): Promise<Row[]> {
  const rows = await t.backend.sql<Row & { seq: string }>(`SELECT id, seq, text, sender_id, client_message_id FROM messages WHERE chat_id = $1 ORDER BY seq`, [chatId]);
  return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
}

/**
 * 20 members of a group send at once from their own sockets, one of them a reply to a message
 * of another chat. Checks what every user can see: 19 messages stored once, numbered without
 * gaps, ids in the same order as seq; each sender acknowledged once; the bad one refused alone;
 * every member gets all 19 once, in seq order.
 */
async function twentySenders(apps: TestApp[]): Promise<void> {
  const [t] = apps;
  const users = await Promise.all(Array.from({ length: 20 }, (_, i) => signUp(apps[i % apps.length])));
  const [owner, ...others] = users;
  const chatId = await createGroup(t, owner, others);
  const elsewhere = await openDirect(t, owner, others[0]);
  const ownerWs = await connect(t, owner);
  const foreign = await send(ownerWs, elsewhere, 'a message of another chat');
  const sockets = await Promise.all(users.map((u, i) => (i === 0 ? ownerWs : connect(apps[i % apps.length], u))));
  const seen = sockets.map((ws) => collect(ws, chatId));
  const errors: Array<{ code: string; clientMessageId: string }> = [];
  sockets.forEach((ws) => ws.socket.on('message', (data) => {
    const frame = JSON.parse(data.toString());
    if (frame.event === 'message:send:error' || frame.event === 'error') errors.push(frame.payload);
  }));
  const before = (await t.backend.sql<{ message_seq: string }>(`SELECT message_seq FROM chats WHERE id = $1`, [chatId]))[0].message_seq;
  const BAD = 7;
  const ids = users.map(() => randomUUID());
  sockets.forEach((ws, i) =>
    ws.send('message:send', { chatId, text: `from ${i}`, clientMessageId: ids[i], ...(i === BAD ? { replyToId: foreign.id } : {}) }),
  );
  await until(() => seen.every((s) => s.length >= 19) && errors.length >= 1, 'the 19 messages on every socket and the refusal');
  await new Promise((resolve) => setTimeout(resolve, 200)); // nothing more arrives

  expect(errors).toEqual([expect.objectContaining({ code: 'MESSAGE_NOT_FOUND', clientMessageId: ids[BAD] })]);
  const rows = await storedRows(t, chatId);
  expect(rows).toHaveLength(19);
  expect(rows.map((r) => r.client_message_id).sort()).toEqual(ids.filter((_, i) => i !== BAD).sort());
  const first = Number(before) + 1;
  expect(rows.map((r) => r.seq)).toEqual(Array.from({ length: 19 }, (_, i) => first + i));
  expect([...rows].sort((a, b) => (a.id < b.id ? -1 : 1)).map((r) => r.seq)).toEqual(rows.map((r) => r.seq));
  const [chat] = await t.backend.sql<{ message_seq: string; last_message_id: string }>(`SELECT message_seq, last_message_id FROM chats WHERE id = $1`, [chatId]);
  expect(Number(chat.message_seq)).toBe(first + 18);
  expect(chat.last_message_id).toBe(rows[18].id);
  // Every member got each of the 19 once, in seq order; each sender's own copy carried its clientMessageId.
  for (const [i, got] of seen.entries()) {
    expect(got.map((m) => m.seq)).toEqual(rows.map((r) => r.seq));
    if (i !== BAD) expect(got.filter((m) => m.clientMessageId === ids[i])).toHaveLength(1);
  }
  // Each sender's read watermark is at their own message.
  const marks = await t.backend.sql<{ user_id: string; last_read_seq: string }>(`SELECT user_id, last_read_seq FROM chat_members WHERE chat_id = $1`, [chatId]);
  for (const row of rows) expect(Number(marks.find((m) => m.user_id === row.sender_id)!.last_read_seq)).toBeGreaterThanOrEqual(row.seq);
  sockets.forEach((ws) => ws.close());
}

describe('group commit of message:send', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  it('stores 19 of 20 concurrent sends into one group in order, without gaps, and refuses the bad one alone', async () => {
    await twentySenders([t]);
  }, 60_000);

  it('writes messages given in one turn as one batch: seq per chat in the order given, the failing rows left out alone', async () => {
    const [a, b, c, d, outsider] = await Promise.all([signUp(t), signUp(t), signUp(t), signUp(t), signUp(t)]);
    const ab = await openDirect(t, a, b);
    const ac = await openDirect(t, a, c);
    const ad = await openDirect(t, a, d);
    const batcher = t.app.get(SendBatcher);
    // b and c see their chats (a wrote first); d does not see ad yet.
    await batcher.store({ draft: draft(ab, a.id, 'ab 0'), secret: false });
    await batcher.store({ draft: draft(ac, a.id, 'ac 0'), secret: false });
    const batches = batchSizes(t);
    const items = [
      draft(ab, a.id, 'ab 1'),
      draft(ac, a.id, 'ac 1'),
      draft(ab, outsider.id, 'not a member'),
      draft(ab, b.id, 'ab 2'),
      draft(ac, c.id, 'ac 2', { replyToId: randomUUID() }),
      draft(ad, a.id, 'ad 1'),
      draft(ab, a.id, 'ab 3'),
      draft(ad, d.id, 'not seen yet'),
      draft(ac, c.id, 'ac 3'),
    ];
    const results = await Promise.all(items.map((item) => batcher.store({ draft: item, secret: false })));
    expect(await batches()).toEqual({ batches: 1, messages: items.length });
    expect(results.map((r) => r?.message.text ?? null)).toEqual(['ab 1', 'ac 1', null, 'ab 2', null, 'ad 1', 'ab 3', null, 'ac 3']);
    expect(results.map((r) => r?.message.seq ?? null)).toEqual([2, 2, null, 3, null, 1, 4, null, 3]);
    // The chat's members travel with each message (for the fan-out); a chat is revealed to its target once.
    expect(new Set(results[3]!.memberIds)).toEqual(new Set([a.id, b.id]));
    expect(results[5]!.revealedTo).toEqual([d.id]);
    expect(results[0]!.revealedTo).toEqual([]);
    expect((await storedRows(t, ab)).map((r) => r.text)).toEqual(['ab 0', 'ab 1', 'ab 2', 'ab 3']);
    expect((await storedRows(t, ac)).map((r) => r.seq)).toEqual([1, 2, 3]);
    // A chat's messages of the batch have distinct times in seq order (clients sort by createdAt),
    // never edited; the chat's last activity is its last message's time.
    expect(
      await t.backend.sql(
        `SELECT array_agg(seq::int ORDER BY created_at, seq DESC) AS by_time, count(DISTINCT created_at)::int AS times, bool_and(updated_at = created_at) AS unedited,
                max(created_at) = (SELECT last_activity_at FROM chats WHERE id = $1) AS activity
           FROM messages WHERE chat_id = $1 AND seq > 1`,
        [ab],
      ),
    ).toEqual([{ by_time: [2, 3, 4], times: 3, unedited: true, activity: true }]);
    // Each sender's read watermark moved to their last message; the others' did not.
    const marks = await t.backend.sql<{ user_id: string; last_read_seq: string }>(`SELECT user_id, last_read_seq FROM chat_members WHERE chat_id = $1`, [ab]);
    expect(Object.fromEntries(marks.map((m) => [m.user_id, Number(m.last_read_seq)]))).toEqual({ [a.id]: 4, [b.id]: 3 });
  });

  it('stores a clientMessageId repeated inside one batch once: the repeat is left out, then found as a retry', async () => {
    const [a, b] = await Promise.all([signUp(t), signUp(t)]);
    const chatId = await openDirect(t, a, b);
    const batcher = t.app.get(SendBatcher);
    const clientMessageId = randomUUID();
    const [first, repeat] = await Promise.all([
      batcher.store({ draft: draft(chatId, a.id, 'once', { clientMessageId }), secret: false }),
      batcher.store({ draft: draft(chatId, a.id, 'once', { clientMessageId }), secret: false }),
    ]);
    expect(first?.message.clientMessageId).toBe(clientMessageId);
    expect(repeat).toBeNull();
    expect(await storedRows(t, chatId)).toHaveLength(1);
  });

  it('answers two devices sending one clientMessageId at once with one stored message, and no error', async () => {
    const [a, b] = await Promise.all([signUp(t), signUp(t)]);
    const a2 = await signIn(t, a.email);
    const chatId = await openDirect(t, a, b);
    const [ws1, ws2, wsB] = await Promise.all([connect(t, a), connect(t, a2), connect(t, b)]);
    const clientMessageId = randomUUID();
    ws1.send('message:send', { chatId, text: 'twice', clientMessageId });
    ws2.send('message:send', { chatId, text: 'twice', clientMessageId });
    const [m1, m2] = await Promise.all([ws1.waitFor('message:new', (m) => m.clientMessageId === clientMessageId), ws2.waitFor('message:new', (m) => m.clientMessageId === clientMessageId)]);
    expect(m1.id).toBe(m2.id);
    const delivered = await wsB.waitFor('message:new');
    expect(delivered.id).toBe(m1.id);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(wsB.frames.filter((f) => f.event === 'message:new')).toHaveLength(0);
    expect([...ws1.frames, ...ws2.frames].filter((f) => /error/.test(f.event))).toEqual([]);
    expect(await storedRows(t, chatId)).toHaveLength(1);
    [ws1, ws2, wsB].forEach((ws) => ws.close());
  });

  it('keeps ids in seq order where the 12-bit counter wraps inside a batch', async () => {
    const [a, b] = await Promise.all([signUp(t), signUp(t)]);
    const chatId = await openDirect(t, a, b);
    const batcher = t.app.get(SendBatcher);
    await batcher.store({ draft: draft(chatId, a.id, 'first'), secret: false });
    await t.backend.sql(`UPDATE chats SET message_seq = 4093 WHERE id = $1`, [chatId]);
    await Promise.all(Array.from({ length: 6 }, (_, i) => batcher.store({ draft: draft(chatId, a.id, `wrap ${i}`), secret: false })));
    const rows = await storedRows(t, chatId);
    expect(rows.map((r) => r.seq)).toEqual([1, 4094, 4095, 4096, 4097, 4098, 4099]);
    expect([...rows].sort((x, y) => (x.id < y.id ? -1 : 1)).map((r) => r.seq)).toEqual(rows.map((r) => r.seq));
  });

  it('sends into many chats at once: each message stored once, acknowledged once and delivered once', async () => {
    const pairs = await Promise.all(Array.from({ length: 8 }, async () => [await signUp(t), await signUp(t)] as [TestUser, TestUser]));
    const chats = await Promise.all(pairs.map(([x, y]) => openDirect(t, x, y)));
    const sockets = await Promise.all(pairs.map(async ([x, y]) => [await connect(t, x), await connect(t, y)] as [WsClient, WsClient]));
    const received = sockets.map(([, y], i) => collect(y, chats[i]));
    const acks = sockets.map(([x], i) => collect(x, chats[i]));
    for (let n = 0; n < 5; n++) sockets.forEach(([x], i) => x.send('message:send', { chatId: chats[i], text: `m${n}`, clientMessageId: randomUUID() }));
    await until(() => received.every((r) => r.length >= 5) && acks.every((r) => r.length >= 5), 'all messages');
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (const [i, chatId] of chats.entries()) {
      const rows = await storedRows(t, chatId);
      expect(rows.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5]);
      expect(received[i].map((m) => m.id)).toEqual(rows.map((r) => r.id));
      expect(acks[i].map((m) => m.id)).toEqual(rows.map((r) => r.id));
    }
    sockets.flat().forEach((ws) => ws.close());
  }, 30_000);

  it('answers the frames of one socket sent back to back in frame order, refusals and a retry included, and stores them in send order', async () => {
    const [a, b, c, stranger] = await Promise.all([signUp(t), signUp(t), signUp(t), signUp(t)]);
    const [ab, ac, elsewhere] = await Promise.all([openDirect(t, a, b), openDirect(t, a, c), openDirect(t, b, stranger)]);
    const [aws, bws] = await Promise.all([connect(t, a), connect(t, b)]);
    const received = collect(bws, ab);
    const answers: string[] = [];
    aws.socket.on('message', (data) => {
      const { event, payload } = JSON.parse(data.toString());
      if (event === 'message:new' && payload.clientMessageId) answers.push(`new ${payload.clientMessageId}`);
      if (event === 'message:send:error') answers.push(`error ${payload.clientMessageId} ${payload.code}`);
    });
    const frames: Array<Record<string, unknown>> = [
      { chatId: ab, text: 'one', clientMessageId: 'f1' },
      { chatId: ab, text: '   ', clientMessageId: 'f2' },
      { chatId: ac, text: 'three', clientMessageId: 'f3' },
      { chatId: ab, text: 'one', clientMessageId: 'f1' },
      { chatId: ab, text: 'five', clientMessageId: 'f5' },
      { chatId: elsewhere, text: 'not mine', clientMessageId: 'f6' },
      { chatId: ab, text: 'seven', clientMessageId: 'f7' },
      { chatId: ab, text: 'x'.repeat(9000), clientMessageId: 'f8' },
      { chatId: ab, text: 'nine', clientMessageId: 'f9' },
    ];
    for (const frame of frames) aws.send('message:send', frame);
    await until(() => answers.length >= frames.length && received.length >= 4, 'every answer');
    await new Promise((resolve) => setTimeout(resolve, 200)); // nothing more arrives
    expect(answers).toEqual(['new f1', 'error f2 VALIDATION_ERROR', 'new f3', 'new f1', 'new f5', 'error f6 CHAT_NOT_FOUND', 'new f7', 'error f8 VALIDATION_ERROR', 'new f9']);
    expect(received.map((m) => (m as unknown as { text: string }).text)).toEqual(['one', 'five', 'seven', 'nine']);
    expect((await storedRows(t, ab)).map((r) => r.text)).toEqual(['one', 'five', 'seven', 'nine']);
    [aws, bws].forEach((ws) => ws.close());
  });

  (TEST_DATABASE_URL ? it : it.skip)('writes each message alone when the batch fails as a whole, so one row fails alone', async () => {
    const [a, b] = await Promise.all([signUp(t), signUp(t)]);
    const chatId = await openDirect(t, a, b);
    const batcher = t.app.get(SendBatcher);
    await batcher.store({ draft: draft(chatId, a.id, 'hello'), secret: false });
    const taken = randomUUID();
    // Another transaction holds an uncommitted message with the clientMessageId: the batch's
    // insert waits on the unique index, then fails when that transaction commits.
    const other = new Client({ connectionString: t.backend.env.DATABASE_URL });
    await other.connect();
    await other.query('BEGIN');
    await other.query(
      `INSERT INTO messages (id, chat_id, sender_id, seq, type, text, client_message_id) VALUES ($1, $2, $3, 1000, 'TEXT', 'elsewhere', $4)`,
      [randomUUID(), chatId, a.id, taken],
    );
    const results = Promise.allSettled([
      batcher.store({ draft: draft(chatId, a.id, 'one'), secret: false }),
      batcher.store({ draft: draft(chatId, a.id, 'raced', { clientMessageId: taken }), secret: false }),
      batcher.store({ draft: draft(chatId, b.id, 'three'), secret: false }),
    ]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await other.query('COMMIT');
    await other.end();
    const [one, raced, three] = await results;
    expect(one).toMatchObject({ status: 'fulfilled', value: expect.objectContaining({ message: expect.objectContaining({ text: 'one' }) }) });
    expect(three).toMatchObject({ status: 'fulfilled', value: expect.objectContaining({ message: expect.objectContaining({ text: 'three' }) }) });
    // The raced one is either refused by the check (its rival committed first) or by the unique index: never stored twice.
    if (raced.status === 'fulfilled') expect(raced.value).toBeNull();
    else expect(String((raced.reason as Error).message)).toMatch(/messages_client_id_key/);
    const seqs = (await storedRows(t, chatId)).filter((r) => r.client_message_id !== taken && r.text !== 'hello').map((r) => r.seq);
    expect(seqs).toEqual([(one as PromiseFulfilledResult<StoredMessage>).value.message.seq, (three as PromiseFulfilledResult<StoredMessage>).value.message.seq].sort((x, y) => x - y));
  });
});

(TEST_DATABASE_URL && TEST_REDIS_URL ? describe : describe.skip)('group commit across two instances', () => {
  const pair = twoInstances();

  it('stores 19 of 20 concurrent sends made on two instances in order, and every member gets them in order', async () => {
    await twentySenders([pair.one, pair.two]);
  }, 60_000);

  it('stores one clientMessageId sent at once by two devices on two instances once, and answers both with it, no send error (the unique index decides)', async () => {
    const a = await signUp(pair.one);
    const b = await signUp(pair.one);
    const a2 = await signIn(pair.two, a.email);
    const chatId = await openDirect(pair.one, a, b);
    const [ws1, ws2] = [await connect(pair.one, a), await connect(pair.two, a2)];
    await send(ws1, chatId, 'the chat is seen');
    // Both inserts read "no such clientMessageId", then queue for the chat's row.
    const lock = new Client({ connectionString: pair.backend.env.DATABASE_URL });
    await lock.connect();
    await lock.query('BEGIN');
    await lock.query('SELECT 1 FROM chats WHERE id = $1 FOR UPDATE', [chatId]);
    const clientMessageId = randomUUID();
    ws1.send('message:send', { chatId, text: 'once', clientMessageId });
    ws2.send('message:send', { chatId, text: 'once', clientMessageId });
    await lockWaiters(pair.one, 2);
    await lock.query('COMMIT');
    await lock.end();
    const own = (ws: WsClient) => ws.received.filter((f) => f.payload?.clientMessageId === clientMessageId);
    await eventually(async () => expect(own(ws1).length + own(ws2).length).toBeGreaterThanOrEqual(3));
    await new Promise((resolve) => setTimeout(resolve, 500));
    // Each device hears the message with its clientMessageId (its answer, the other device's copy), and no error.
    for (const ws of [ws1, ws2]) expect(new Set(own(ws).map((f) => `${f.event} ${f.payload.id}`)).size).toBe(1);
    expect(own(ws1)[0].payload.id).toBe(own(ws2)[0].payload.id);
    expect(await pair.backend.sql('SELECT count(*)::int AS n FROM messages WHERE client_message_id = $1', [clientMessageId])).toEqual([{ n: 1 }]);
    ws1.close();
    ws2.close();
  }, 30_000);
});

/** Batches written from now on (their number and messages), read from the metrics. */
function batchSizes(t: TestApp): () => Promise<{ batches: number; messages: number }> {
  const histogram = t.app.get(Metrics).sendBatchSize;
  const read = async () => {
    const { values } = await histogram.get();
    const pick = (name: string) => values.find((v) => v.metricName === name)?.value ?? 0;
    return { batches: pick('h2v_send_batch_size_count'), messages: pick('h2v_send_batch_size_sum') };
  };
  const before = read();
  return async () => {
    const [start, end] = [await before, await read()];
    return { batches: end.batches - start.batches, messages: end.messages - start.messages };
  };
}
