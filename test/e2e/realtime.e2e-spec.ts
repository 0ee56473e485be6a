import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { SessionsRepository } from '../../src/auth/sessions.repository';
import { PresenceRepository } from '../../src/presence/presence.repository';
import { PresenceService } from '../../src/presence/presence.service';
import { PresenceStore } from '../../src/realtime/presence/presence-store';
import { WsGateway } from '../../src/realtime/ws.gateway';
import { TYPING_TTL_MS, TypingSocket } from '../../src/chats/typing.socket';
import { eventually, signUp, TestUser } from '../support/factories';
import { connect, createGroup, openDirect, send } from '../support/chats';
import { createBackend, createTestApp, describeOnEachRedis, TestApp, TestBackend, twoInstances } from '../support/test-app';
import { TEST_REDIS_URL } from '../support/env';

describe('realtime', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  /**
   * Two users who share a chat with a message in it, so each is the other's presence audience.
   * The observer `b` sends it: `a`, whose presence the tests watch, has never been online.
   */
  async function partners(): Promise<[TestUser, TestUser, string]> {
    const [a, b] = await Promise.all([signUp(t), signUp(t)]);
    const chatId = await openDirect(t, b, a);
    const bws = await connect(t, b);
    await send(bws, chatId, 'hi');
    bws.close();
    await eventually(async () => expect((await t.http().get(`/api/users/${b.id}`).set(b.auth).expect(200)).body.data.isOnline).toBe(false));
    return [a, b, chatId];
  }

  it('closes a socket that never authenticates with 4001, and keeps one that did', async () => {
    const user = await signUp(t);
    const [silent, authed] = [await t.ws(), await connect(t, user)];
    expect(await silent.closed).toEqual({ code: 4001, reason: 'authentication timeout' });
    // Still open: an authenticated socket is answered.
    authed.send('no:such:event');
    expect(await authed.waitFor('error')).toMatchObject({ code: 'UNKNOWN_EVENT' });
    authed.close();
  }, 20_000);

  it('answers no more frames of a socket closed before it authenticated: a burst of bad `auth` frames costs one session lookup', async () => {
    const lookups = jest.spyOn(t.app.get(SessionsRepository), 'findLive');
    try {
      const ws = await t.ws();
      for (let i = 0; i < 200; i++) ws.send('auth', { token: `not-a-session-${i}` });
      expect((await ws.closed).code).toBe(4001);
      // The queued frames have had time to be taken (each would be a lookup).
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(lookups.mock.calls.length).toBeLessThanOrEqual(2);
    } finally {
      lookups.mockRestore();
    }
  });

  describe('typing', () => {
    it('relays typing:start and typing:stop to the other members only', async () => {
      const [a, b, chatId] = await partners();
      const [aws, bws] = [await connect(t, a), await connect(t, b)];
      aws.send('typing:start', { chatId });
      expect(await bws.waitFor('typing:started')).toEqual({ chatId, userId: a.id, nickname: a.nickname });
      aws.send('typing:stop', { chatId });
      expect(await bws.waitFor('typing:stopped')).toEqual({ chatId, userId: a.id });
      await aws.expectNo('typing:started');
      aws.close();
      bws.close();
    });

    it('keeps an indicator while its socket is open (the web client sends one start per burst), ends it when that socket closes, and lets it lapse after TYPING_TTL_MS', async () => {
      const [a, b, chatId] = await partners();
      const [aws, aws2, bws] = [await connect(t, a), await connect(t, a), await connect(t, b)];
      aws.send('typing:start', { chatId });
      await bws.waitFor('typing:started');
      // The other device of the typist closing ends nothing; the typing one closing ends it at once.
      aws2.close();
      await bws.expectNo('typing:stopped');
      aws.close();
      expect(await bws.waitFor('typing:stopped')).toEqual({ chatId, userId: a.id });
      // No stop and no close: the safety net, shortened here.
      expect(TYPING_TTL_MS).toBeGreaterThanOrEqual(30_000);
      const typing = t.app.get(TypingSocket);
      typing.ttlMs = 300;
      try {
        const aws3 = await connect(t, a);
        aws3.send('typing:start', { chatId });
        await bws.waitFor('typing:started');
        expect(await bws.waitFor('typing:stopped')).toEqual({ chatId, userId: a.id });
        aws3.close();
      } finally {
        typing.ttlMs = TYPING_TTL_MS;
      }
      bws.close();
    });

    it('ends the sender\'s indicator when they send a message in the chat, for a client that sends no typing:stop', async () => {
      const [a, b, chatId] = await partners();
      const [aws, bws] = [await connect(t, a), await connect(t, b)];
      try {
        aws.send('typing:start', { chatId });
        await bws.waitFor('typing:started', (p) => p.userId === a.id);
        aws.send('message:send', { chatId, text: 'done typing' });
        await bws.waitFor('message:new', (m) => m.text === 'done typing');
        expect(await bws.waitFor('typing:stopped')).toEqual({ chatId, userId: a.id });
        // Ended, not lapsed later: a stop now has nothing to end.
        aws.send('typing:stop', { chatId });
        await bws.expectNo('typing:stopped');
      } finally {
        aws.close();
        bws.close();
      }
    });

    it('relays no typing in a direct chat its target cannot see yet, and does once the first message has revealed it', async () => {
      const [a, b] = await Promise.all([signUp(t), signUp(t)]);
      const chatId = await openDirect(t, a, b);
      const [aws, bws] = [await connect(t, a), await connect(t, b)];
      try {
        aws.send('typing:start', { chatId });
        aws.send('typing:stop', { chatId });
        // Frames are handled in order: once the unknown event is answered, both typing frames were.
        aws.send('test:sentinel');
        await aws.waitFor('error', (p) => p.code === 'UNKNOWN_EVENT');
        // b's own update travels the same bus after anything those frames told b.
        await t.http().patch('/api/users/me').set(b.auth).send({ bio: `settled ${randomUUID()}` }).expect(200);
        await bws.waitFor('user:updated', (p) => p.id === b.id);
        expect(bws.received.filter((f) => f.event.startsWith('typing:'))).toEqual([]);

        await send(aws, chatId, 'hello');
        await bws.waitFor('chat:new', (p) => p.id === chatId);
        aws.send('typing:start', { chatId });
        expect(await bws.waitFor('typing:started')).toEqual({ chatId, userId: a.id, nickname: a.nickname });
      } finally {
        aws.close();
        bws.close();
      }
    });

    it('refuses typing in a chat you are not in', async () => {
      const [, , chatId] = await partners();
      const stranger = await signUp(t);
      const sws = await connect(t, stranger);
      sws.send('typing:start', { chatId });
      expect(await sws.waitFor('error')).toMatchObject({ code: 'CHAT_NOT_FOUND' });
      sws.close();
    });
  });

  describe('presence', () => {
    // The app's own sweep (every 15 s) would claim the lapsed leases these tests sweep themselves.
    beforeAll(() => t.app.get(PresenceService).onApplicationShutdown());
    afterAll(() => t.app.get(PresenceService).onApplicationBootstrap());

    it('announces online once for two tabs and offline only when the last one closes', async () => {
      const [a, b] = await partners();
      const bws = await connect(t, b);
      const tab1 = await connect(t, a);
      expect(await bws.waitFor('user:online', (p) => p.userId === a.id)).toEqual({ userId: a.id });
      const tab2 = await connect(t, a);
      await bws.expectNo('user:online', (p) => p.userId === a.id);
      tab1.close();
      await bws.expectNo('user:offline', (p) => p.userId === a.id);
      tab2.close();
      expect(await bws.waitFor('user:offline', (p) => p.userId === a.id)).toEqual({ userId: a.id, lastOnline: expect.any(String) });
      const profile = (await t.http().get(`/api/users/${a.id}`).set(b.auth).expect(200)).body.data;
      expect(profile).toMatchObject({ isOnline: false, lastOnline: expect.any(String) });
      bws.close();
    });

    it('reports offline, once, a user whose leases lapsed without a disconnect (their instance died)', async () => {
      const [a, b] = await partners();
      const store = t.app.get(PresenceStore);
      const bws = await connect(t, b);
      // A connection on an instance that died: its lease is never renewed and never dropped.
      const leased = Date.now();
      expect(await store.connect(a.id, randomUUID(), 1_000)).toBe(true);
      expect((await store.online([a.id])).has(a.id)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, leased + 1_100 - Date.now()));
      expect(await t.app.get(PresenceService).sweepLapsed()).toBeGreaterThanOrEqual(1);
      expect(await bws.waitFor('user:offline', (p) => p.userId === a.id)).toEqual({ userId: a.id, lastOnline: expect.any(String) });
      const [row] = await t.backend.sql('SELECT last_online_at FROM users WHERE id = $1', [a.id]);
      expect(row.last_online_at).not.toBeNull();
      await t.app.get(PresenceService).sweepLapsed();
      await bws.expectNo('user:offline', (p) => p.userId === a.id);
      bws.close();
    });

    it('hands a lapsed user to the sweep or to the last disconnect, never to both', async () => {
      const store = t.app.get(PresenceStore);
      const [u, v] = [randomUUID(), randomUUID()];
      const [short, long] = [randomUUID(), randomUUID()];
      // u: one lapsed lease and one live: not lapsed; dropping the live one reports u offline.
      await store.connect(u, short, 100);
      await store.connect(u, long, 60_000);
      // v: its only lease lapses; the sweep claims v once and a late disconnect reports nothing.
      await store.connect(v, short, 100);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const claimed = await store.claimLapsed(1000);
      expect(claimed).toContain(v);
      expect(claimed).not.toContain(u);
      expect(await store.claimLapsed(1000)).not.toContain(v);
      expect(await store.disconnect(v, short)).toBe(false);
      expect(await store.disconnect(u, long)).toBe(true);
      expect(await store.claimLapsed(1000)).not.toContain(u);
    });

    it('lists online partners in auth:ok and presence:snapshot', async () => {
      const [a, b] = await partners();
      const aws = await connect(t, a);
      const bws = await t.ws({ cookie: b.cookie });
      expect((await bws.waitFor('auth:ok')).onlineUserIds).toEqual([a.id]);
      expect(await bws.waitFor('presence:snapshot')).toEqual({ onlineUserIds: [a.id] });
      aws.close();
      bws.close();
    });

    // Sessions and relations asked for in one turn are read by one statement each (turnBatch).
    it('answers a burst of connects each with its own user and partners, a user twice included', async () => {
      const pairs = await Promise.all([partners(), partners(), partners()]);
      const online = await Promise.all(pairs.map(([a]) => connect(t, a)));
      const burst = await Promise.all([...pairs.map(([, b]) => t.ws({ cookie: b.cookie })), t.ws({ cookie: pairs[0][1].cookie })]);
      const answers = await Promise.all(burst.map((ws) => ws.waitFor('auth:ok')));
      expect(answers).toEqual([...pairs, pairs[0]].map(([a, b]) => expect.objectContaining({ userId: b.id, onlineUserIds: [a.id] })));
      [...online, ...burst].forEach((ws) => ws.close());
    });

    it('reads the sessions and the relations asked for in one turn with one statement each, each answered as if alone', async () => {
      const sessions = t.app.get(SessionsRepository);
      const relations = t.app.get(PresenceRepository);
      const [[a, b], [c, d]] = await Promise.all([partners(), partners()]);
      const [hashA, hashB] = await Promise.all([a, b].map(async (user) => (await t.backend.sql(`SELECT token_hash FROM sessions WHERE user_id = $1`, [user.id]))[0].token_hash as string));
      const alone = { a: await relations.relations(a.id), c: await relations.relations(c.id), b: await sessions.findLive(hashB) };

      const query = jest.spyOn(t.app.get(DataSource).manager, 'query');
      try {
        const strangerId = randomUUID();
        const [ra, rc, ra2, stranger] = await Promise.all([a.id, c.id, a.id, strangerId].map((id) => relations.relations(id)));
        const [sa, sb, unknown] = await Promise.all([hashA, hashB, 'f'.repeat(64)].map((hash) => sessions.findLive(hash)));
        // The statements that asked for these keys: one per batch, each with all its keys (a user once).
        const asked = query.mock.calls.map(([, params]) => (params as unknown[] | undefined)?.[0]).filter((keys) => Array.isArray(keys) && (keys.includes(a.id) || keys.includes(hashA)));
        expect(asked).toEqual([[a.id, c.id, strangerId], [hashA, hashB, 'f'.repeat(64)]]);
        expect([ra, rc, ra2, stranger]).toEqual([alone.a, alone.c, alone.a, { audience: [], visible: [] }]);
        expect(ra).toEqual({ audience: [b.id], visible: [b.id] });
        expect(rc.audience).toEqual([d.id]);
        expect([sa?.userId, sb, unknown]).toEqual([a.id, alone.b, null]);
      } finally {
        query.mockRestore();
      }
    });

    it('goes away and comes back with presence:away / presence:back', async () => {
      const [a, b] = await partners();
      const bws = await connect(t, b);
      const aws = await connect(t, a);
      await bws.waitFor('user:online', (p) => p.userId === a.id);
      aws.send('presence:away');
      expect(await bws.waitFor('user:offline', (p) => p.userId === a.id)).toMatchObject({ userId: a.id });
      aws.send('presence:back');
      expect(await bws.waitFor('user:online', (p) => p.userId === a.id)).toEqual({ userId: a.id });
      aws.close();
      bws.close();
    });

    it('says a user is online when a ping renews a lease that was missing (Redis did not answer at the connect)', async () => {
      const [a, b] = await partners();
      const bws = await connect(t, b);
      const store = t.app.get(PresenceStore);
      const unanswered = jest.spyOn(store, 'connect').mockResolvedValueOnce(false);
      const aws = await connect(t, a);
      unanswered.mockRestore();
      await bws.expectNo('user:online', (p) => p.userId === a.id);
      aws.send('presence:ping');
      expect(await bws.waitFor('user:online', (p) => p.userId === a.id)).toEqual({ userId: a.id });
      // An ordinary renewal says nothing.
      aws.send('presence:ping');
      await bws.expectNo('user:online', (p) => p.userId === a.id);
      aws.close();
      bws.close();
    });

    it('tells the followers of a deleted account, online until then, that it went offline', async () => {
      const [a, b] = await partners();
      const bws = await connect(t, b);
      const aws = await connect(t, a);
      await bws.waitFor('user:online', (p) => p.userId === a.id);
      await t.http().delete('/api/users/me').set(a.auth).expect(200);
      expect(await bws.waitFor('user:offline', (p) => p.userId === a.id)).toEqual({ userId: a.id, lastOnline: null });
      aws.close();
      bws.close();
    });

    it('sends no presence about a user who hides it, and shows them offline', async () => {
      const [a, b] = await partners();
      await t.http().put('/api/users/me/settings').set(a.auth).send({ showOnlineStatus: false }).expect(200);
      const bws = await connect(t, b);
      const aws = await connect(t, a);
      await bws.expectNo('user:online', (p) => p.userId === a.id);
      expect((await t.http().get(`/api/users/${a.id}`).set(b.auth).expect(200)).body.data).toMatchObject({ isOnline: false, lastOnline: null });
      const again = await t.ws({ cookie: b.cookie });
      expect((await again.waitFor('auth:ok')).onlineUserIds).not.toContain(a.id);
      aws.close();
      await bws.expectNo('user:offline', (p) => p.userId === a.id);
      bws.close();
      again.close();
    });

    it('sends a blocked user no presence about the blocker', async () => {
      const [a, b] = await partners();
      await t.http().post(`/api/users/${b.id}/block`).set(a.auth).expect(200);
      const bws = await connect(t, b);
      const aws = await connect(t, a);
      await bws.expectNo('user:online', (p) => p.userId === a.id);
      aws.close();
      bws.close();
    });
  });
});

describeOnEachRedis('two instances', (redis) => {
  const cluster = twoInstances({}, redis);

  it('carries messages, reads, reactions, typing and presence both ways', async () => {
    const { one, two } = cluster;
    const [a, b, c] = await Promise.all([signUp(one), signUp(two), signUp(one)]);
    const bws = await connect(two, b);
    const aws = await connect(one, a);
    expect(await bws.waitFor('user:online', (p) => p.userId === a.id, 3000).catch(() => null)).toBeNull(); // no shared chat yet
    const chatId = await openDirect(one, a, b);

    const m1 = await send(aws, chatId, 'from one');
    expect(await bws.waitFor('chat:new')).toMatchObject({ id: chatId });
    expect(await bws.waitFor('message:new')).toMatchObject({ id: m1.id, text: 'from one' });
    expect(await aws.waitFor('message:delivered')).toEqual({ messageId: m1.id, chatId });

    bws.send('message:read', { messageId: m1.id, chatId });
    expect(await aws.waitFor('message:read')).toMatchObject({ messageId: m1.id, readBy: b.id });

    const m2 = await send(bws, chatId, 'from two');
    expect(await aws.waitFor('message:new', (m) => m.id === m2.id)).toMatchObject({ text: 'from two' });

    await two.http().post(`/api/messages/${m1.id}/reactions`).set(b.auth).send({ emoji: '👍' }).expect(200);
    expect(await aws.waitFor('reaction:added')).toMatchObject({ messageId: m1.id, reaction: { userId: b.id, emoji: '👍' } });

    aws.send('typing:start', { chatId });
    expect(await bws.waitFor('typing:started')).toMatchObject({ chatId, userId: a.id });
    bws.send('typing:start', { chatId });
    expect(await aws.waitFor('typing:started')).toMatchObject({ chatId, userId: b.id });

    // presence across instances: b sees a go offline and come back
    aws.close();
    expect(await bws.waitFor('user:offline', (p) => p.userId === a.id)).toMatchObject({ userId: a.id });
    const aws2 = await connect(one, a);
    expect(await bws.waitFor('user:online', (p) => p.userId === a.id)).toEqual({ userId: a.id });

    // a group spanning both instances
    const groupId = await createGroup(two, b, [a, c]);
    const cws = await connect(one, c);
    const g = await send(bws, groupId, 'group hello');
    expect(await aws2.waitFor('message:new', (m) => m.id === g.id)).toMatchObject({ text: 'group hello' });
    expect(await cws.waitFor('message:new', (m) => m.id === g.id)).toMatchObject({ text: 'group hello' });
    [aws2, bws, cws].forEach((s) => s.close());
  });

  it('closes a terminated session\'s socket on the other instance with 4003', async () => {
    const { one, two } = cluster;
    const a = await signUp(one);
    const ws = await connect(two, a);
    await one.http().post('/api/auth/logout').set(a.auth).expect(200);
    expect((await ws.closed).code).toBe(4003);
  });

  it('refuses a token on the other instance once its session ended, though that instance had it cached', async () => {
    const { one, two } = cluster;
    const a = await signUp(one);
    const b = await signUp(one);
    // Instance two resolves both tokens (and remembers them for a few seconds).
    await two.http().get('/api/users/me').set(a.auth).expect(200);
    await two.http().get('/api/users/me').set(b.auth).expect(200);
    await one.http().post('/api/auth/logout').set(a.auth).expect(200);
    await one.http().delete('/api/users/me').set(b.auth).expect(200);
    await eventually(async () => {
      await two.http().get('/api/users/me').set(a.auth).expect(401);
      await two.http().get('/api/users/me').set(b.auth).expect(401);
      // Under the 5 s a session stays cached: the ending reached instance two, it did not just expire.
    }, 4_000);
  });

  it('keeps presence leases of users on every shard, read and swept from either instance', async () => {
    const [storeOne, storeTwo] = [cluster.one.app.get(PresenceStore), cluster.two.app.get(PresenceStore)];
    // Neither app's own sweep (every 15 s) may claim the lapsed users: only the claims below.
    const sweeps = [cluster.one, cluster.two].map((instance) => instance.app.get(PresenceService));
    sweeps.forEach((sweep) => sweep.onApplicationShutdown());
    try {
      // 48 users land on (almost surely) every one of the 16 presence shards, so on every primary.
      const live: string[] = Array.from({ length: 24 }, () => randomUUID());
      const lapsing: string[] = Array.from({ length: 24 }, () => randomUUID());
      for (const id of live) expect(await storeOne.connect(id, randomUUID(), 60_000)).toBe(true);
      // The short leases are long enough to outlast the reads just below on a loaded machine (24
      // connects one after another took more than 100 ms in a CI run); the wait counts from the last.
      const lease = 2_000;
      for (const id of lapsing) expect(await storeTwo.connect(id, randomUUID(), lease)).toBe(true);
      const allLeased = Date.now();
      expect([...(await storeTwo.online([...live, ...lapsing]))].sort()).toEqual([...live, ...lapsing].sort());
      expect(await storeOne.anyOnline(lapsing)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, allLeased + lease + 200 - Date.now()));
      expect([...(await storeOne.online([...live, ...lapsing]))].sort()).toEqual([...live].sort());
      expect(await storeTwo.anyOnline(lapsing)).toBe(false);
      // Each lapsed user is claimed once, by whichever instance sweeps first.
      const claimed = [...(await storeOne.claimLapsed(1000)), ...(await storeTwo.claimLapsed(1000))];
      expect(claimed.filter((id) => lapsing.includes(id)).sort()).toEqual([...lapsing].sort());
      expect(claimed.filter((id) => live.includes(id))).toEqual([]);
      for (const id of live) expect(await storeTwo.disconnect(id, 'not-a-connection')).toBe(false);
    } finally {
      sweeps.forEach((sweep) => sweep.onApplicationBootstrap());
    }
  });
});

// Its own app, after the one above is closed (the embedded mode runs one database per process at a time).
describe('realtime: shutting down', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  it('tells a socket opened once shutdown began to go elsewhere (1001) at once, instead of taking it and cutting it', async () => {
    const user = await signUp(t);
    const open = await connect(t, user);
    await t.app.get(WsGateway).beforeApplicationShutdown();
    expect((await open.closed).code).toBe(1001);
    // The listener is still open (the app is not disposed yet): a reconnect is told to go elsewhere, unanswered.
    const late = await t.ws({ cookie: user.cookie });
    expect(await late.closed).toEqual({ code: 1001, reason: 'server shutting down' });
    expect(late.frames.map((f) => f.event)).not.toContain('auth:ok');
  });
});

(TEST_REDIS_URL ? describe : describe.skip)('an instance shutting down', () => {
  it('ends the typing indicators it held, for the members on other instances', async () => {
    const backend = await createBackend();
    const [one, two] = [await createTestApp({ backend }), await createTestApp({ backend })];
    try {
      const [a, b] = [await signUp(one), await signUp(two)];
      const chatId = await openDirect(one, a, b);
      const [aws, bws] = [await connect(one, a), await connect(two, b)];
      await send(aws, chatId, 'hi');
      aws.send('typing:start', { chatId });
      await bws.waitFor('typing:started', (p) => p.userId === a.id);
      // The instance that would have ended it (a's socket, its 30 s timer) goes: it says so first.
      await one.close();
      expect(await bws.waitFor('typing:stopped', (p) => p.userId === a.id)).toEqual({ chatId, userId: a.id });
      bws.close();
    } finally {
      await two.close();
      await backend.close();
    }
  });
});
