import { randomUUID } from 'node:crypto';
import { connect, createGroup, openDirect, send } from '../support/chats';
import { TEST_REDIS_URL } from '../support/env';
import { signIn, signUp } from '../support/factories';
import { createTestApp, TestApp, twoInstances } from '../support/test-app';
import { WsClient } from '../support/ws-client';

const SENDERS = 6;
const PER_SENDER = 25;

/**
 * Six members send into one group at once, each firing without waiting for acks; a seventh
 * member watches. Resolves the `seq` of every message:new in the order the watcher got them.
 */
async function burst(apps: TestApp[]): Promise<{ live: number[]; senderLive: number[]; stored: number[] }> {
  const users = await Promise.all(Array.from({ length: SENDERS + 1 }, (_, i) => signUp(apps[i % apps.length])));
  const [watcher, ...senders] = users;
  const chatId = await createGroup(apps[0], watcher, senders);
  const watcherWs = await connect(apps[apps.length - 1], watcher);
  const sockets = await Promise.all(senders.map((s, i) => connect(apps[i % apps.length], s)));
  const total = SENDERS * PER_SENDER;
  const seen: number[] = [];
  // A sender sees its own messages among the others' (its copies carry its clientMessageId).
  const senderSeen: number[] = [];
  sockets[0].socket.on('message', (data) => {
    const frame = JSON.parse(data.toString());
    if (frame.event === 'message:new' && frame.payload.chatId === chatId) senderSeen.push(frame.payload.seq);
  });
  const all = new Promise<void>((resolve) => {
    watcherWs.socket.on('message', (data) => {
      const frame = JSON.parse(data.toString());
      if (frame.event === 'message:new' && frame.payload.chatId === chatId) seen.push(frame.payload.seq);
      if (seen.length === total) resolve();
    });
  });
  for (let n = 0; n < PER_SENDER; n++) {
    sockets.forEach((ws, i) => ws.send('message:send', { chatId, text: `${i}:${n}`, clientMessageId: randomUUID() }));
  }
  await all;
  while (senderSeen.length < total) await new Promise((resolve) => setTimeout(resolve, 20));
  const stored = (await apps[0].backend.sql<{ seq: string }>(`SELECT seq FROM messages WHERE chat_id = $1 ORDER BY id`, [chatId])).map((r) => Number(r.seq));
  [watcherWs, ...sockets].forEach((s) => s.close());
  return { live: seen, senderLive: senderSeen, stored };
}

describe('delivery order and retries', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  it('delivers a group\'s messages to every member in the chat\'s sequence order, each carrying its seq', async () => {
    const { live, senderLive, stored } = await burst([t]);
    expect(live).toEqual(stored);
    expect(senderLive).toEqual(stored);
    expect(live).toEqual(Array.from({ length: SENDERS * PER_SENDER }, (_, i) => i + 1));
  }, 30_000);

  it('answers a retried clientMessageId on the retrying socket only, not on the sender\'s other devices', async () => {
    const [a, b] = await Promise.all([signUp(t), signUp(t)]);
    const chatId = await openDirect(t, a, b);
    const phone = await signIn(t, a.email, 'phone');
    const [laptop, phoneWs, bws] = [await connect(t, a), await connect(t, phone), await connect(t, b)];
    const clientMessageId = randomUUID();
    const first = await send(laptop, chatId, 'once', { clientMessageId });
    await phoneWs.waitFor('message:new', (m) => m.id === first.id);
    await bws.waitFor('message:new', (m) => m.id === first.id);

    laptop.send('message:send', { chatId, text: 'once', clientMessageId });
    expect(await laptop.waitFor('message:new', (m) => m.clientMessageId === clientMessageId)).toMatchObject({ id: first.id, seq: first.seq });
    await phoneWs.expectNo('message:new', (m) => m.id === first.id, 800);
    await bws.expectNo('message:new', (m) => m.id === first.id, 100);
    const rows = await t.backend.sql(`SELECT id FROM messages WHERE chat_id = $1`, [chatId]);
    expect(rows).toHaveLength(1);
    [laptop, phoneWs, bws].forEach((s) => s.close());
  });

  it('answers a second auth frame on a cookie-authenticated socket with the real presence snapshot', async () => {
    const [a, b] = await Promise.all([signUp(t), signUp(t)]);
    const chatId = await openDirect(t, a, b);
    const aws: WsClient = await connect(t, a);
    await send(aws, chatId, 'hello');
    const bws = await connect(t, b);
    await aws.waitFor('user:online', (p) => p.userId === b.id);
    aws.send('auth', { token: a.token });
    expect(await aws.waitFor('auth:ok')).toEqual({ userId: a.id, onlineUserIds: [b.id], seq: expect.any(Number) });
    expect(await aws.waitFor('presence:snapshot')).toEqual({ onlineUserIds: [b.id] });
    [aws, bws].forEach((s) => s.close());
  });
});

(TEST_REDIS_URL ? describe : describe.skip)('delivery order across two instances', () => {
  const cluster = twoInstances();

  it('delivers a group\'s messages in sequence order though its senders publish from different instances', async () => {
    const { live, senderLive, stored } = await burst([cluster.one, cluster.two]);
    expect(live).toEqual(stored);
    expect(senderLive).toEqual(stored);
  }, 30_000);
});
