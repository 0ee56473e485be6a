import { randomUUID } from 'node:crypto';
import { SOCKET_SLOT_LEASE_MS } from '../../src/realtime/socket-limits';
import { SlotStore } from '../../src/core/rate-limit/slot-store';
import { eventually, signUp, TestUser } from '../support/factories';
import { openDirect, send } from '../support/chats';
import { holdCalls } from '../support/races';
import { createBackend, createTestApp, describeOnEachRedis, TestApp, TestBackend, twoInstances } from '../support/test-app';
import { WsClient } from '../support/ws-client';
import { MessagesService } from '../../src/messages/messages.service';

/** Small budgets and caps, refilled so slowly that nothing comes back during a test. */
const LIMITS = {
  TRUST_PROXY: '1',
  WS_RATE_SEND: '5/600',
  WS_RATE_TYPING: '3/600',
  WS_RATE_EVENTS: '4/600',
  WS_RATE_PRESENCE: '2/600',
  WS_MAX_SOCKETS_PER_USER: '3',
  WS_MAX_SOCKETS_PER_IP: '4',
};

let addresses = 0;
/** A client address of its own (TEST-NET-3), so the per-address cap only bites where a test means it to. */
const freshAddress = () => `203.0.113.${++addresses}`;

/** An authenticated socket, past auth:ok, coming from `address`; throws at once when the server closes it instead. */
async function connectFrom(t: TestApp, user: TestUser, address = freshAddress()): Promise<WsClient> {
  const ws = await t.ws({ cookie: user.cookie, headers: { 'X-Forwarded-For': address } });
  const closed = ws.closed.then(({ code }) => Promise.reject(new Error(`closed with ${code} before auth:ok`)));
  await Promise.race([ws.waitFor('auth:ok'), closed]);
  return ws;
}

/**
 * An unauthenticated socket from `address`, once the server has counted it under the address
 * cap: its `open` comes before that check (which runs after the upgrade), so a probe frame,
 * answered only after it, tells when the place is taken. Without this a socket opened next could
 * be checked first and a held one refused instead.
 */
async function heldFrom(t: TestApp, address: string): Promise<WsClient> {
  const ws = await t.ws({ headers: { 'X-Forwarded-For': address } });
  ws.send('presence:ping');
  expect(await ws.waitFor('error')).toMatchObject({ code: 'UNAUTHORIZED' });
  return ws;
}

/**
 * Expects the socket `open` makes to be refused: TOO_MANY_SOCKETS, then close code 4029. A cap
 * check that Redis leaves unanswered past its bound admits by design (fail-open, RedisSlotStore),
 * which one stalled moment on a loaded machine can cause: an admitted socket (auth:ok, or an
 * UNAUTHORIZED answer to a probe frame) is closed and the check asked again, three times at
 * most, so a cap that does not refuse still fails.
 */
async function expectRefused(open: () => Promise<WsClient>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const ws = await open();
    ws.send('presence:ping');
    const first = await ws.waitForFrame((f) => f.event === 'auth:ok' || f.event === 'error', 'auth:ok or error');
    if (first.event === 'error' && first.payload.code === 'TOO_MANY_SOCKETS') {
      expect(first.payload).toEqual({ code: 'TOO_MANY_SOCKETS', message: expect.any(String) });
      expect((await ws.closed).code).toBe(4029);
      return;
    }
    ws.close();
    await ws.closed;
    if (attempt === 3) throw new Error(`admitted past the cap three times; last answer ${JSON.stringify(first)}`);
  }
}

describe('socket limits', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp({ env: LIMITS })));
  afterAll(() => t.close());

  describe('frame budgets', () => {
    it('answers message:send past its budget with message:send:error RATE_LIMIT and retryAfter, and stores none of those', async () => {
      const [a, b] = await Promise.all([signUp(t), signUp(t)]);
      const chatId = await openDirect(t, a, b);
      const aws = await connectFrom(t, a);
      const ids = Array.from({ length: 8 }, () => randomUUID());
      for (const [i, clientMessageId] of ids.entries()) aws.send('message:send', { chatId, text: `burst ${i}`, clientMessageId });

      for (const clientMessageId of ids.slice(0, 5)) await aws.waitFor('message:new', (m) => m.clientMessageId === clientMessageId);
      for (const clientMessageId of ids.slice(5)) {
        const refusal = await aws.waitFor('message:send:error', (p) => p.clientMessageId === clientMessageId);
        expect(refusal).toEqual({ code: 'RATE_LIMIT', message: expect.any(String), retryAfter: expect.any(Number), clientMessageId });
        expect(refusal.retryAfter).toBeGreaterThanOrEqual(1);
      }
      const history = (await t.http().get(`/api/chats/${chatId}/messages`).set(b.auth).expect(200)).body.data.messages;
      expect(history.map((m: { text: string }) => m.text).sort()).toEqual(['burst 0', 'burst 1', 'burst 2', 'burst 3', 'burst 4']);

      // Typing has a budget of its own: still relayed with message:send spent.
      const bws = await connectFrom(t, b);
      aws.send('typing:start', { chatId });
      expect(await bws.waitFor('typing:started')).toMatchObject({ chatId, userId: a.id });
      aws.close();
      bws.close();
    });

    it('charges the frames sent right behind auth, taken once the socket is authenticated, to the same budget', async () => {
      const [a, b] = await Promise.all([signUp(t), signUp(t)]);
      const chatId = await openDirect(t, a, b);
      const aws = await t.ws({ headers: { 'X-Forwarded-For': freshAddress() } });
      const ids = Array.from({ length: 8 }, () => randomUUID());
      // In one tick: every send arrives while the auth is still being checked, so none is charged as it arrives.
      aws.send('auth', { token: a.token });
      for (const [i, clientMessageId] of ids.entries()) aws.send('message:send', { chatId, text: `behind auth ${i}`, clientMessageId });

      await aws.waitFor('auth:ok');
      for (const clientMessageId of ids.slice(0, 5)) await aws.waitFor('message:new', (m) => m.clientMessageId === clientMessageId);
      for (const clientMessageId of ids.slice(5)) {
        expect(await aws.waitFor('message:send:error', (p) => p.clientMessageId === clientMessageId)).toMatchObject({ code: 'RATE_LIMIT', clientMessageId });
      }
      const history = (await t.http().get(`/api/chats/${chatId}/messages`).set(b.auth).expect(200)).body.data.messages;
      expect(history.map((m: { text: string }) => m.text).sort()).toEqual(['behind auth 0', 'behind auth 1', 'behind auth 2', 'behind auth 3', 'behind auth 4']);
      aws.close();
    });

    it('gives typing:start its own budget: starts past it get RATE_LIMIT, while a typing:stop still ends the indicator and message:send goes through', async () => {
      const [a, b] = await Promise.all([signUp(t), signUp(t)]);
      const chatId = await openDirect(t, a, b);
      const [aws, bws] = [await connectFrom(t, a), await connectFrom(t, b)];
      try {
        await send(aws, chatId, 'hello');
        // A start per keystroke, as the Android app sends them.
        for (let i = 0; i < 4; i++) aws.send('typing:start', { chatId });
        expect(await aws.waitFor('error')).toEqual({ code: 'RATE_LIMIT', message: expect.stringContaining('typing:start'), retryAfter: expect.any(Number) });
        expect(await bws.waitFor('typing:started')).toMatchObject({ chatId, userId: a.id });
        aws.send('typing:stop', { chatId });
        expect(await bws.waitFor('typing:stopped')).toEqual({ chatId, userId: a.id });
        expect(await send(aws, chatId, 'still sending')).toMatchObject({ text: 'still sending' });
      } finally {
        aws.close();
        bws.close();
      }
    });

    it('counts the budget per user, across their sockets', async () => {
      const [a, b] = await Promise.all([signUp(t), signUp(t)]);
      const chatId = await openDirect(t, a, b);
      const [tab1, tab2] = [await connectFrom(t, a), await connectFrom(t, a)];
      for (let i = 0; i < 5; i++) await send(i % 2 ? tab2 : tab1, chatId, `tab ${i}`);
      const clientMessageId = randomUUID();
      tab2.send('message:send', { chatId, text: 'one too many', clientMessageId });
      expect(await tab2.waitFor('message:send:error')).toMatchObject({ code: 'RATE_LIMIT', clientMessageId });
      tab1.close();
      tab2.close();
    });

    it('charges every other event to a third budget', async () => {
      const a = await signUp(t);
      const aws = await connectFrom(t, a);
      for (let i = 0; i < 4; i++) aws.send('presence:ping');
      await aws.expectNo('error');
      aws.send('presence:ping');
      expect(await aws.waitFor('error')).toMatchObject({ code: 'RATE_LIMIT', retryAfter: expect.any(Number) });
      aws.close();
    });

    it('charges a frame to its budget as it arrives: frames slower to answer than the budget refills are refused at once, not queued past it', async () => {
      const [a, b] = await Promise.all([signUp(t), signUp(t)]);
      const chatId = await openDirect(t, a, b);
      const aws = await connectFrom(t, a);
      const message = await send(aws, chatId, 'hello');
      const { spy: held, release, restore } = holdCalls(t.app.get(MessagesService), 'markRead');
      try {
        for (let i = 0; i < 10; i++) aws.send('message:read', { messageId: message.id });
        // The first read is held and the socket's other frames wait behind it: the six over the budget are refused anyway.
        for (let i = 0; i < 6; i++) expect(await aws.waitFor('error')).toMatchObject({ code: 'RATE_LIMIT', retryAfter: expect.any(Number) });
        expect(held).toHaveBeenCalledTimes(1);
        release();
        await eventually(async () => expect(held).toHaveBeenCalledTimes(4));
        await aws.expectNo('error');
      } finally {
        release();
        restore();
        aws.close();
      }
    });

    /** `a` and `b`, who share a chat with a message in it, each with a socket: `b` follows `a`'s presence. */
    const watchedPair = async () => {
      const [a, b] = await Promise.all([signUp(t), signUp(t)]);
      const chatId = await openDirect(t, a, b);
      const aws = await connectFrom(t, a);
      await send(aws, chatId, 'hello');
      return { a, b, aws, bws: await connectFrom(t, b) };
    };

    it('gives presence:away and presence:back a budget of their own: past it, RATE_LIMIT and no event to the followers', async () => {
      const { a, b, aws, bws } = await watchedPair();
      aws.send('presence:away');
      await bws.waitFor('user:offline', (p) => p.userId === a.id);
      aws.send('presence:back');
      await bws.waitFor('user:online', (p) => p.userId === a.id);
      aws.send('presence:away');
      expect(await aws.waitFor('error')).toMatchObject({ code: 'RATE_LIMIT', retryAfter: expect.any(Number) });
      await bws.expectNo('user:offline', (p) => p.userId === a.id);
      // The other events' budget is untouched.
      aws.send('presence:ping');
      await aws.expectNo('error', (e) => e.code === 'RATE_LIMIT');
      aws.close();
      bws.close();
    });

    it('takes a ping on an away socket as its return, so a refused presence:back leaves no pinging client offline', async () => {
      const { a, b, aws, bws } = await watchedPair();
      // Hidden (and hidden again: the budget of 2 is spent), the tab comes back: its presence:back is refused…
      aws.send('presence:away');
      await bws.waitFor('user:offline', (p) => p.userId === a.id);
      aws.send('presence:away');
      aws.send('presence:back');
      expect(await aws.waitFor('error')).toMatchObject({ code: 'RATE_LIMIT' });
      // …and the client, back as far as it knows, pings: a ping means it is back.
      aws.send('presence:ping');
      await bws.waitFor('user:online', (p) => p.userId === a.id);
      expect((await t.http().get(`/api/users/${a.id}`).set(b.auth).expect(200)).body.data.isOnline).toBe(true);
      aws.close();
      bws.close();
    });
  });

  describe('socket caps', () => {
    it('refuses a user\'s socket past WS_MAX_SOCKETS_PER_USER with TOO_MANY_SOCKETS and close code 4029, keeping the others', async () => {
      const [a, b] = await Promise.all([signUp(t), signUp(t)]);
      const chatId = await openDirect(t, b, a);
      const open = [await connectFrom(t, a), await connectFrom(t, a), await connectFrom(t, a)];
      await expectRefused(() => t.ws({ cookie: a.cookie, headers: { 'X-Forwarded-For': freshAddress() } }));

      const bws = await connectFrom(t, b);
      const message = await send(bws, chatId, 'to every open tab');
      for (const ws of open) expect(await ws.waitFor('message:new', (m) => m.id === message.id)).toMatchObject({ text: 'to every open tab' });

      // A closed tab gives its place back.
      open.pop()!.close();
      open.push(await eventually(() => connectFrom(t, a)));
      [...open, bws].forEach((ws) => ws.close());
    });

    it('refuses sockets past WS_MAX_SOCKETS_PER_IP, by the X-Forwarded-For address, before authentication', async () => {
      const a = await signUp(t);
      const address = freshAddress();
      const from = (ip: string) => t.ws({ headers: { 'X-Forwarded-For': ip } });
      const held = await Promise.all(Array.from({ length: 4 }, () => heldFrom(t, address)));
      await expectRefused(() => from(address));

      // The held sockets are still usable, and another address is not affected.
      held[0].send('auth', { token: a.token });
      expect(await held[0].waitFor('auth:ok')).toMatchObject({ userId: a.id });
      const elsewhere = await from(freshAddress());
      elsewhere.send('auth', { token: a.token });
      expect(await elsewhere.waitFor('auth:ok')).toMatchObject({ userId: a.id });

      held.pop()!.close();
      const again = await eventually(async () => {
        const ws = await from(address);
        ws.send('auth', { token: a.token });
        await Promise.race([ws.waitFor('auth:ok'), ws.closed.then(({ code }) => Promise.reject(new Error(`closed with ${code}`)))]);
        return ws;
      });
      [...held, elsewhere, again].forEach((ws) => ws.close());
    });

    it('counts an IPv6 /64 as one address', async () => {
      const prefix = `2001:db8:${(++addresses).toString(16)}:1`;
      const from = (ip: string) => t.ws({ headers: { 'X-Forwarded-For': ip } });
      const held = await Promise.all([1, 2, 3, 4].map((n) => heldFrom(t, `${prefix}::${n}`)));
      await expectRefused(() => from(`${prefix}:ffff:ffff:ffff:ffff`));
      held.forEach((ws) => ws.close());
    });

    it('frees the places of an instance that died once their leases lapse', async () => {
      const slots = t.app.get(SlotStore);
      const key = `ws-user:${randomUUID()}`;
      // Long enough to outlast the refusal just below on a loaded machine (200 ms did not, once).
      const lease = 2_000;
      expect(await slots.acquire({ key, holder: 'on-a-dead-instance' }, 1, lease)).toBe(true);
      expect(await slots.acquire({ key, holder: 'new' }, 1, SOCKET_SLOT_LEASE_MS)).toBe(false);
      await eventually(async () => expect(await slots.acquire({ key, holder: 'new' }, 1, SOCKET_SLOT_LEASE_MS)).toBe(true), lease + 5_000);
    });
  });
});

describeOnEachRedis('socket caps and rate limits across two instances', (redis) => {
  const cluster = twoInstances({ ...LIMITS, RATE_LIMIT_PUBLIC_PROFILE: '3/600' }, redis);

  it('counts a user\'s sockets on every instance against one cap', async () => {
    const { one, two } = cluster;
    const a = await signUp(one);
    const open = [await connectFrom(one, a), await connectFrom(two, a), await connectFrom(two, a)];
    await expectRefused(() => one.ws({ cookie: a.cookie, headers: { 'X-Forwarded-For': freshAddress() } }));
    open.pop()!.close();
    open.push(await eventually(() => connectFrom(one, a)));
    open.forEach((ws) => ws.close());
  });

  it('counts an address\'s sockets on every instance against one cap', async () => {
    const { one, two } = cluster;
    const address = freshAddress();
    const held = await Promise.all([one, one, two, two].map((instance) => heldFrom(instance, address)));
    await expectRefused(() => one.ws({ headers: { 'X-Forwarded-For': address } }));
    held.forEach((ws) => ws.close());
  });

  it('counts an address\'s requests on every instance against one rate limit', async () => {
    const { one, two } = cluster;
    const address = freshAddress();
    const lookup = (t: TestApp) => t.http().get(`/api/users/public/nobody_${randomUUID().slice(0, 8)}`).set('X-Forwarded-For', address);
    expect([(await lookup(one)).status, (await lookup(two)).status, (await lookup(one)).status]).toEqual([404, 404, 404]);
    const refused = await lookup(two);
    expect({ status: refused.status, code: refused.body.code }).toEqual({ status: 429, code: 'RATE_LIMIT' });
    // Another address still has its own budget.
    await two.http().get('/api/users/public/nobody').set('X-Forwarded-For', freshAddress()).expect(404);
  });
});

// Its own app, after the one above is closed (the embedded mode runs one database per process at a time).
describe('socket limits: connects', () => {
  let c: TestApp;
  beforeAll(async () => (c = await createTestApp({ env: { ...LIMITS, WS_RATE_CONNECT: '3/600' } })));
  afterAll(() => c.close());

  it('refuses a user\'s socket past WS_RATE_CONNECT with RATE_LIMIT and close code 1013, before any follower hears of it', async () => {
    const [a, b] = await Promise.all([signUp(c), signUp(c)]);
    const chatId = await openDirect(c, a, b);
    const bws = await connectFrom(c, b);
    for (let i = 0; i < 3; i++) {
      const aws = await connectFrom(c, a);
      if (i === 0) await send(aws, chatId, 'hello');
      await bws.waitFor('user:online', (p) => p.userId === a.id);
      aws.close();
      await bws.waitFor('user:offline', (p) => p.userId === a.id);
      bws.frames.length = 0;
    }
    const refused = await c.ws({ cookie: a.cookie, headers: { 'X-Forwarded-For': freshAddress() } });
    expect(await refused.waitFor('error')).toMatchObject({ code: 'RATE_LIMIT', retryAfter: expect.any(Number) });
    expect((await refused.closed).code).toBe(1013);
    expect(refused.frames.map((f) => f.event)).not.toContain('auth:ok');
    await bws.expectNo('user:online', (p) => p.userId === a.id);
    // Someone else's budget is their own.
    (await connectFrom(c, b)).close();
    bws.close();
  });

  it('charges a repeated auth on an open socket as a connect: it reads what a connect reads', async () => {
    const a = await signUp(c);
    const aws = await connectFrom(c, a);
    try {
      for (let i = 0; i < 2; i++) {
        aws.send('auth', {});
        await aws.waitFor('auth:ok');
      }
      aws.send('auth', {});
      expect(await aws.waitFor('error')).toMatchObject({ code: 'RATE_LIMIT', retryAfter: expect.any(Number) });
      expect(aws.frames.filter((f) => f.event === 'auth:ok')).toEqual([]);
    } finally {
      aws.close();
    }
  });
});

// Its own app: with TRUST_PROXY off every test socket is one address (127.0.0.1).
describe('socket limits without a trusted proxy', () => {
  let p: TestApp;
  beforeAll(async () => (p = await createTestApp({ env: { ...LIMITS, TRUST_PROXY: '0', WS_MAX_SOCKETS_PER_IP: '2' } })));
  afterAll(() => p.close());

  it('counts sockets under the peer\'s address, whatever X-Forwarded-For a client writes', async () => {
    const held = await Promise.all([heldFrom(p, freshAddress()), heldFrom(p, freshAddress())]);
    await expectRefused(() => p.ws({ headers: { 'X-Forwarded-For': freshAddress() } }));
    held.forEach((ws) => ws.close());
  });
});
