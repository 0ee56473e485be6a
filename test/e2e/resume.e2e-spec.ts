import { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { connect, createGroup, openDirect, send } from '../support/chats';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../support/env';
import { eventually, signUp, TestUser } from '../support/factories';
import { createBackend, createTestApp, describeOnRedisCluster, RUN_REDIS, TestApp, TestBackend, TestRedis } from '../support/test-app';
import { ServerChild, spawnServer } from '../support/server-process';
import { Frame, WsClient } from '../support/ws-client';

/** Each user's log keeps 60 events here: room for the 50 of the first test, and few enough to trim. */
const MAX_EVENTS = 60;

/** A token socket (as the mobile apps open one): `auth {token, lastSeq?}`; resolves it with auth:ok's payload. */
async function tokenSocket(url: string, user: TestUser, lastSeq?: number): Promise<{ ws: WsClient; ok: any }> {
  const ws = await WsClient.connect(url);
  ws.send('auth', lastSeq === undefined ? { token: user.token } : { token: user.token, lastSeq });
  const ok = await ws.waitFor('auth:ok');
  await ws.waitFor('presence:snapshot');
  return { ws, ok };
}

/** The frames a socket receives within `ms` from now (to show that nothing more comes). */
async function nextFrames(ws: WsClient, ms = 300): Promise<Frame[]> {
  const from = ws.received.length;
  await new Promise((resolve) => setTimeout(resolve, ms));
  return ws.received.slice(from);
}

const logged = (frames: Frame[]) => frames.filter((f) => f.seq !== undefined).map(({ event, payload, seq }) => ({ event, payload, seq }));

// The run's own backend (embedded, or one Redis), and a Redis Cluster when REDIS_CLUSTER_TEST_NODES names one.
describe('resumable delivery (issue 18)', () => resumableDelivery(RUN_REDIS));
describeOnRedisCluster('resumable delivery (issue 18)', resumableDelivery);

function resumableDelivery(redis: TestRedis): void {
  let t: TestApp;
  /** A second instance on the same database and Redis (with Redis only): resumes land on either. */
  let other: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ env: { EVENT_LOG_MAX_EVENTS: String(MAX_EVENTS) }, redis });
    other = redis.url ? await createTestApp({ backend: t.backend, env: { EVENT_LOG_MAX_EVENTS: String(MAX_EVENTS) } }) : t;
  }, 120_000);
  afterAll(async () => {
    if (other !== t) await other?.close();
    await t?.close();
  });

  it('resumes a cookie socket from ?lastSeq= on its URL: the missed events, then live ones, in order and none twice, while a sender keeps sending', async () => {
    const [a, b] = [await signUp(t), await signUp(t)];
    const direct = await openDirect(t, b, a);
    const bws = await connect(t, b);
    const watcher = await connect(t, a);
    const first = await send(bws, direct, 'before');
    const lastSeq = (await watcher.waitForFrame((f) => f.event === 'message:new' && f.payload.id === first.id, 'the first message')).seq!;
    const missed = Array.from({ length: 20 }, (_, i) => `missed ${i}`);
    const live = Array.from({ length: 20 }, (_, i) => `live ${i}`);
    for (const text of missed) await send(bws, direct, text);
    const sending = (async () => {
      for (const text of live) await send(bws, direct, text);
    })();
    const back = await WsClient.connect(`${t.wsUrl}?lastSeq=${lastSeq}`, { cookie: a.cookie });
    await sending;
    await eventually(async () => expect(logged(back.received)).toHaveLength(40));
    expect(logged(back.received).map((f) => f.seq)).toEqual(Array.from({ length: 40 }, (_, i) => lastSeq + 1 + i));
    expect(logged(back.received).map((f) => f.payload.text)).toEqual([...missed, ...live]);
    expect(back.received[0].event).toBe('auth:ok');

    // A malformed one is refused and the socket connects without a replay.
    const bad = await WsClient.connect(`${t.wsUrl}?lastSeq=soon`, { cookie: a.cookie });
    expect(await bad.waitFor('error')).toMatchObject({ code: 'VALIDATION_ERROR' });
    await bad.waitFor('auth:ok');
    expect(logged(await nextFrames(bad))).toEqual([]);
    for (const ws of [bws, watcher, back, bad]) ws.close();
  });

  it('gives a device that was away exactly the 50 events it missed, in order, with their seqs, then live ones', async () => {
    const [a, b, c] = [await signUp(t), await signUp(t), await signUp(t)];
    const direct = await openDirect(t, b, a);
    const group = await createGroup(t, c, [a, b]);
    // Device 2 stays connected throughout: what it receives while the others are away is the truth.
    const device2 = await connect(t, a);
    const bws = await connect(t, b);
    const first = await send(bws, direct, 'before');
    await device2.waitFor('message:new', (m) => m.id === first.id);

    const { ws: device1, ok } = await tokenSocket(t.wsUrl, a);
    expect(ok).toEqual({ userId: a.id, onlineUserIds: expect.any(Array), seq: expect.any(Number) });
    const cookieDevice = await t.ws({ cookie: a.cookie });
    const cookieOk = await cookieDevice.waitFor('auth:ok');
    expect(cookieOk.seq).toBe(ok.seq);
    const lastSeq = ok.seq;
    device1.close();
    cookieDevice.close();
    await Promise.all([device1.closed, cookieDevice.closed]);
    bws.close();

    // 50 events for a while device 1 is away: messages, edits, reactions, chat changes, deletes, own messages, reads.
    const start = device2.received.length;
    let last: { id: string } = first;
    let own: { id: string } = first;
    const wait = (event: string, predicate: (p: any) => boolean) => device2.waitFor(event, predicate);
    const ops: Array<(i: number) => Promise<unknown>> = [
      async (i) => {
        const clientMessageId = randomUUID();
        const sender = await connect(t, b);
        sender.send('message:send', { chatId: direct, text: `missed ${i}`, clientMessageId });
        last = await sender.waitFor('message:new', (m) => m.clientMessageId === clientMessageId);
        sender.close();
        await wait('message:new', (m) => m.id === last.id);
      },
      async (i) => {
        await t.http().patch(`/api/messages/${last.id}`).set(b.auth).send({ text: `edited ${i}` }).expect(200);
        await wait('message:edited', (m) => m.id === last.id);
      },
      async () => {
        await t.http().post(`/api/messages/${last.id}/reactions`).set(b.auth).send({ emoji: '🔥' }).expect(200);
        await wait('reaction:added', (p) => p.messageId === last.id);
      },
      async () => {
        await t.http().delete(`/api/messages/${last.id}/reactions/${encodeURIComponent('🔥')}`).set(b.auth).expect(200);
        await wait('reaction:removed', (p) => p.messageId === last.id);
      },
      async (i) => {
        await t.http().patch(`/api/chats/${group}`).set(c.auth).send({ name: `Group ${i}` }).expect(200);
        await wait('chat:updated', (p) => p.id === group && p.name === `Group ${i}`);
      },
      async () => {
        await t.http().delete(`/api/messages/${last.id}?forEveryone=true`).set(b.auth).expect(200);
        await wait('message:deleted', (p) => p.messageId === last.id);
      },
      async (i) => {
        own = await send(device2, direct, `mine ${i}`);
      },
      async () => {
        await t.http().post(`/api/messages/${own.id}/read`).set(b.auth).expect(200);
        await wait('message:read', (p) => p.messageId === own.id);
      },
    ];
    for (let i = 0; i < 50; i++) await ops[i % ops.length](i);
    const missed = logged(device2.received.slice(start));
    expect(missed).toHaveLength(50);
    expect(new Set(missed.map((f) => f.event))).toEqual(new Set(['message:new', 'message:edited', 'reaction:added', 'reaction:removed', 'chat:updated', 'message:deleted', 'message:read']));
    expect(missed.map((f) => f.seq)).toEqual(missed.map((_, i) => lastSeq + 1 + i));

    // Back on another instance (cluster mode) by token, and on this one by cookie: the same 50, in order.
    const { ws: back, ok: backOk } = await tokenSocket(other.wsUrl, a, lastSeq);
    expect(backOk.seq).toBe(lastSeq + 50);
    const cookieBack = await t.ws({ cookie: a.cookie });
    await cookieBack.waitFor('auth:ok');
    cookieBack.send('auth', { lastSeq });
    await eventually(async () => expect(logged(back.received)).toHaveLength(50));
    await eventually(async () => expect(logged(cookieBack.received)).toHaveLength(50));
    expect(logged(back.received)).toEqual(missed);
    expect(logged(cookieBack.received)).toEqual(missed);
    // The replay came after auth:ok and the snapshot.
    expect(back.received.slice(0, 2).map((f) => f.event)).toEqual(['auth:ok', 'presence:snapshot']);

    // The same catch-up over HTTP.
    const page = (await t.http().get(`/api/events?after=${lastSeq}&limit=30`).set(a.auth).expect(200)).body.data;
    expect(page.hasMore).toBe(true);
    const rest = (await other.http().get(`/api/events?after=${page.events[29].seq}`).set(a.auth).expect(200)).body.data;
    expect(rest.hasMore).toBe(false);
    expect([...page.events, ...rest.events]).toEqual(missed);

    // Then live, continuing the sequence, once.
    const sender = await connect(t, b);
    const live = await send(sender, direct, 'live');
    for (const ws of [back, cookieBack, device2]) {
      const frame = await eventually(async () => {
        const found = ws.received.find((f) => f.event === 'message:new' && f.payload.id === live.id);
        expect(found).toBeDefined();
        return found!;
      });
      expect(frame.seq).toBe(lastSeq + 51);
    }
    expect(back.received.filter((f) => f.event === 'message:new' && f.payload.id === live.id)).toHaveLength(1);
    expect(await nextFrames(back)).toEqual([]);
    for (const ws of [back, cookieBack, device2, sender]) ws.close();
  }, 120_000);

  it('sends each event once when messages are published while the replay runs', async () => {
    const [a, b] = [await signUp(t), await signUp(t)];
    const direct = await openDirect(t, b, a);
    const { ws: away, ok } = await tokenSocket(t.wsUrl, a);
    away.close();
    await away.closed;
    const bws = await connect(other, b);
    const before: string[] = [];
    for (let i = 0; i < 20; i++) before.push((await send(bws, direct, `while away ${i}`)).id);

    // The resume and ten more sends at once: some land before, during and after the replay.
    const resumed = await WsClient.connect(t.wsUrl);
    resumed.send('auth', { token: a.token, lastSeq: ok.seq });
    const during = await Promise.all(Array.from({ length: 10 }, (_, i) => send(bws, direct, `during ${i}`)));
    const ids = [...before, ...during.map((m) => m.id)];
    await eventually(async () => expect(resumed.received.filter((f) => f.event === 'message:new')).toHaveLength(30));
    expect(await nextFrames(resumed)).toEqual([]);

    const frames = resumed.received.filter((f) => f.event === 'message:new');
    expect(new Set(frames.map((f) => f.payload.id))).toEqual(new Set(ids));
    // Every logged event once (the first message revealed the direct chat: chat:new), seqs without a hole.
    const all = logged(resumed.received);
    expect(all.map((f) => f.event)).toEqual(['chat:new', ...frames.map(() => 'message:new')]);
    expect(all.map((f) => f.seq)).toEqual(all.map((_, i) => ok.seq + 1 + i));
    // Chat order too: the message seqs of the chat increase.
    const chatSeqs = frames.map((f) => f.payload.seq);
    expect(chatSeqs).toEqual([...chatSeqs].sort((x, y) => x - y));
    resumed.close();
    bws.close();
  }, 60_000);

  it(`answers resync:required (and 410 over HTTP) for a position older than the last ${MAX_EVENTS} events`, async () => {
    const [a, b] = [await signUp(t), await signUp(t)];
    const direct = await openDirect(t, b, a);
    const bws = await connect(t, b);
    const message = await send(bws, direct, 'react to me');
    bws.close();
    const { ws, ok } = await tokenSocket(t.wsUrl, a);
    ws.close();
    // 70 reaction events: the first 10 are trimmed.
    for (let i = 0; i < 35; i++) {
      await t.http().post(`/api/messages/${message.id}/reactions`).set(b.auth).send({ emoji: '👍' }).expect(200);
      await t.http().delete(`/api/messages/${message.id}/reactions/${encodeURIComponent('👍')}`).set(b.auth).expect(200);
    }
    const latest = ok.seq + 70;

    const { ws: stale } = await tokenSocket(t.wsUrl, a, ok.seq);
    expect(await stale.waitFor('resync:required')).toEqual({ fromSeq: latest });
    expect(logged([...stale.received, ...(await nextFrames(stale))])).toEqual([]);
    const gone = await t.http().get(`/api/events?after=${ok.seq}`).set(a.auth).expect(410);
    expect(gone.body).toMatchObject({ success: false, code: 'RESYNC_REQUIRED', fromSeq: latest });

    // The oldest position still whole: the newest 60, in order.
    const { ws: fresh } = await tokenSocket(other.wsUrl, a, latest - MAX_EVENTS);
    await eventually(async () => expect(logged(fresh.received)).toHaveLength(MAX_EVENTS));
    expect(logged(fresh.received).map((f) => f.seq)).toEqual(Array.from({ length: MAX_EVENTS }, (_, i) => latest - MAX_EVENTS + 1 + i));
    expect(fresh.received.some((f) => f.event === 'resync:required')).toBe(false);
    const page = (await t.http().get(`/api/events?after=${latest - MAX_EVENTS}&limit=500`).set(a.auth).expect(200)).body.data;
    expect(page.events).toHaveLength(MAX_EVENTS);
    stale.close();
    fresh.close();
  }, 60_000);

  it("refuses another user's position and a future one with INVALID_SEQ, and shows nothing of anyone else", async () => {
    const [intruder, victim, friend] = [await signUp(t), await signUp(t), await signUp(t)];
    // The intruder's counter starts first; the victim's later, so the victim's seqs are above it.
    const { ws: first, ok: intruderOk } = await tokenSocket(t.wsUrl, intruder);
    first.close();
    await new Promise((resolve) => setTimeout(resolve, 5));
    const chat = await openDirect(t, friend, victim);
    const fws = await connect(t, friend);
    const { ws: victimWs } = await tokenSocket(t.wsUrl, victim);
    await send(fws, chat, 'private');
    const victimFrame = await eventually(async () => {
      const found = victimWs.received.find((f) => f.event === 'message:new');
      expect(found).toBeDefined();
      return found!;
    });
    expect(victimFrame.seq).toBeGreaterThan(intruderOk.seq);

    const { ws: probe } = await tokenSocket(t.wsUrl, intruder, victimFrame.seq! - 1);
    expect(await probe.waitFor('error')).toMatchObject({ code: 'INVALID_SEQ' });
    // The socket stays open and authenticated; a future seq of its own is refused the same way.
    probe.send('auth', { lastSeq: intruderOk.seq + 1_000 });
    expect(await probe.waitFor('error')).toMatchObject({ code: 'INVALID_SEQ' });
    probe.send('auth', { lastSeq: -1 });
    expect(await probe.waitFor('error')).toMatchObject({ code: 'VALIDATION_ERROR' });
    expect(logged([...probe.received, ...(await nextFrames(probe))])).toEqual([]);
    expect((await t.http().get(`/api/events?after=${victimFrame.seq! - 1}`).set(intruder.auth).expect(422)).body.code).toBe('INVALID_SEQ');
    // `after` is read as the socket reads ?lastSeq=: decimal digits only, so an empty one is not 0 (410) nor 0x10 16.
    for (const after of ['abc', '', '0x10', '1e3', '+1', ' 1']) {
      expect((await t.http().get(`/api/events?after=${encodeURIComponent(after)}`).set(intruder.auth).expect(422)).body.code).toBe('VALIDATION_ERROR');
    }
    expect((await t.http().get(`/api/events?after=${intruderOk.seq}&limit=501`).set(intruder.auth).expect(422)).body.code).toBe('VALIDATION_ERROR');
    await t.http().get(`/api/events?after=${intruderOk.seq}`).expect(401);
    expect((await t.http().get(`/api/events?after=${intruderOk.seq}`).set(intruder.auth).expect(200)).body.data).toEqual({ events: [], hasMore: false });
    for (const ws of [probe, victimWs, fws]) ws.close();
  }, 60_000);

  it('refuses a position just one past the last event with INVALID_SEQ, on the socket and over HTTP', async () => {
    const a = await signUp(t);
    const { ws, ok } = await tokenSocket(t.wsUrl, a);
    ws.send('auth', { lastSeq: ok.seq + 1 });
    expect(await ws.waitFor('error')).toMatchObject({ code: 'INVALID_SEQ' });
    expect(logged([...ws.received, ...(await nextFrames(ws))])).toEqual([]);
    expect((await t.http().get(`/api/events?after=${ok.seq + 1}`).set(a.auth).expect(422)).body.code).toBe('INVALID_SEQ');
    expect((await t.http().get(`/api/events?after=${ok.seq}`).set(a.auth).expect(200)).body.data).toEqual({ events: [], hasMore: false });
    ws.close();
  });

  it('answers a re-sent auth with the seq of the last event the socket got, so a resume from it repeats nothing', async () => {
    const [a, b] = [await signUp(t), await signUp(t)];
    const direct = await openDirect(t, b, a);
    const bws = await connect(t, b);
    const { ws, ok } = await tokenSocket(t.wsUrl, a);
    for (let i = 0; i < 6; i++) await send(bws, direct, `after auth:ok ${i}`);
    await eventually(async () => expect(ws.received.filter((f) => f.event === 'message:new')).toHaveLength(6));
    const last = ws.lastSeq(ok.seq);
    expect(last).toBeGreaterThanOrEqual(ok.seq + 6);

    ws.send('auth', { token: a.token });
    expect((await ws.waitFor('auth:ok')).seq).toBe(last);
    ws.close();
    const { ws: back } = await tokenSocket(other.wsUrl, a, last);
    expect(logged([...back.received, ...(await nextFrames(back))])).toEqual([]);
    for (const socket of [back, bws]) socket.close();
  }, 30_000);

  it('leaves typing and presence out of the log: no seq, nothing replayed', async () => {
    const [a, b] = [await signUp(t), await signUp(t)];
    const direct = await openDirect(t, b, a);
    const bws = await connect(t, b);
    await send(bws, direct, 'hi');
    const { ws: aws, ok } = await tokenSocket(t.wsUrl, a);
    bws.send('typing:start', { chatId: direct });
    const typing = await eventually(async () => {
      const found = aws.received.find((f) => f.event === 'typing:started');
      expect(found).toBeDefined();
      return found!;
    });
    expect(typing.seq).toBeUndefined();
    // b's socket closing ends the indicator: a hears typing:stopped (unlogged too) before going, so
    // it cannot reach the resumed socket live, where it would pass for a replayed one.
    bws.close();
    expect((await aws.waitForFrame((f) => f.event === 'typing:stopped', 'typing:stopped')).seq).toBeUndefined();
    aws.close();
    const { ws: back } = await tokenSocket(t.wsUrl, a, ok.seq);
    await nextFrames(back);
    expect(logged(back.received)).toEqual([]);
    expect(back.received.some((f) => f.event.startsWith('typing:'))).toBe(false);
    back.close();
  }, 30_000);
}

/**
 * Real server processes on Postgres + Redis: one is killed (SIGKILL) while its clients are
 * connected and others keep sending; they reconnect to the survivor with lastSeq.
 */
(TEST_DATABASE_URL && TEST_REDIS_URL ? describe : describe.skip)('an instance killed with SIGKILL', () => killedInstance(RUN_REDIS));
if (TEST_DATABASE_URL) describeOnRedisCluster('an instance killed with SIGKILL', killedInstance);

function killedInstance(redis: TestRedis): void {
  const children: ChildProcess[] = [];
  let backend: TestBackend;
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await backend?.close();
  });

  async function startServer(): Promise<ServerChild> {
    const server = await spawnServer({ PATH: process.env.PATH, ...backend.env, LOG_LEVEL: 'warn' });
    children.push(server.child);
    return server;
  }

  it('loses nothing and repeats nothing: sent = acknowledged = stored = received by every device, in chat order', async () => {
    backend = await createBackend({ redis });
    const [doomed, survivor] = await Promise.all([startServer(), startServer()]);
    const app = { url: survivor.url, backend, http: () => request(survivor.url) } as unknown as TestApp;
    const [s1, s2, r1, r2] = [await signUp(app), await signUp(app), await signUp(app), await signUp(app)];
    const group = await createGroup(app, s1, [s2, r1, r2]);
    const direct = await openDirect(app, s1, r1);

    // Each receiver has a device on the instance that will die; the senders are on the survivor.
    const devices = new Map<TestUser, { sockets: WsClient[]; position: number }>();
    for (const receiver of [r1, r2]) {
      const { ws, ok } = await tokenSocket(doomed.wsUrl, receiver);
      devices.set(receiver, { sockets: [ws], position: ok.seq });
    }
    const senders = await Promise.all([s1, s2].map(async (user) => ({ user, ws: (await tokenSocket(survivor.wsUrl, user)).ws })));

    const sent = new Set<string>();
    const acked = new Set<string>();
    const PER_SENDER = 30;
    let killed = false;
    const sending = senders.map(async ({ user, ws }, n) => {
      for (let i = 0; i < PER_SENDER; i++) {
        const clientMessageId = randomUUID();
        const chatId = user === s1 && i % 3 === 0 ? direct : group;
        sent.add(clientMessageId);
        ws.send('message:send', { chatId, text: `${n}:${i}`, clientMessageId });
        await ws.waitFor('message:new', (m) => m.clientMessageId === clientMessageId, 15_000);
        acked.add(clientMessageId);
        if (!killed && acked.size >= 15) {
          killed = true;
          doomed.child.kill('SIGKILL');
        }
      }
    });

    // When its socket drops, each device comes back on the survivor from the last seq it got.
    const reconnected = [...devices].map(async ([receiver, device]) => {
      const first = device.sockets[0];
      await first.closed;
      const { ws } = await tokenSocket(survivor.wsUrl, receiver, first.lastSeq(device.position));
      device.sockets.push(ws);
    });
    await Promise.all(sending);
    await Promise.all(reconnected);
    expect(killed).toBe(true);

    const stored = await backend.sql<{ id: string; chat_id: string; client_message_id: string }>(
      'SELECT id, chat_id, client_message_id FROM messages WHERE chat_id = ANY($1) AND client_message_id IS NOT NULL',
      [[group, direct]],
    );
    expect(acked.size).toBe(sent.size);
    expect(stored.length).toBe(sent.size);
    expect(new Set(stored.map((row) => row.client_message_id))).toEqual(sent);
    for (const [receiver, device] of devices) {
      // r1 is in both chats, r2 in the group only.
      const expected = new Set(stored.filter((row) => receiver === r1 || row.chat_id === group).map((row) => row.id));
      const frames = () => device.sockets.flatMap((ws) => ws.received).filter((f) => f.event === 'message:new');
      await eventually(async () => expect(frames().length).toBeGreaterThanOrEqual(expected.size), 20_000);
      await nextFrames(device.sockets[1]);
      const received = frames();
      // Nothing twice, nothing missing, and the user's seqs run on without a hole across the reconnect.
      expect(received).toHaveLength(expected.size);
      expect(new Set(received.map((f) => f.payload.id))).toEqual(expected);
      const seqs = device.sockets.flatMap((ws) => logged(ws.received)).map((f) => f.seq!);
      expect(seqs).toEqual(seqs.map((_, i) => device.position + 1 + i));
      // Per chat, in the chat's order.
      for (const chatId of [group, direct]) {
        const chatSeqs = received.filter((f) => f.payload.chatId === chatId).map((f) => f.payload.seq);
        expect(chatSeqs).toEqual([...chatSeqs].sort((x, y) => x - y));
      }
    }
    for (const { ws } of senders) ws.close();
    for (const device of devices.values()) for (const ws of device.sockets) ws.close();
    survivor.child.kill('SIGTERM');
  }, 240_000);
}
