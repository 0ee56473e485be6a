import { sha256 } from '../../src/core/crypto/secret-box';
import { MessagesService } from '../../src/messages/messages.service';
import { SocketLimits } from '../../src/realtime/socket-limits';
import { connect, openDirect, send } from '../support/chats';
import { TEST_REDIS_URL } from '../support/env';
import { eventually, signIn, signUp } from '../support/factories';
import { holdCalls } from '../support/races';
import { TcpProxy } from '../support/tcp-proxy';
import { createBackend, createTestApp, TestApp, TestBackend } from '../support/test-app';
import { WsClient } from '../support/ws-client';

/** Ending a session is a user's remedy for a stolen device: its sockets must close, whatever the bus does. */
describe('an ended session closes its sockets', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp({ env: { SESSION_RECHECK_SECONDS: '1' } })));
  afterAll(() => t.close());

  it('closes a socket with 4003 within the re-check period when its session is gone, though no disconnect was published', async () => {
    const a = await signUp(t);
    const ws = await connect(t, a);
    const [session] = await t.backend.sql<{ id: string }>(`SELECT id FROM sessions WHERE user_id = $1`, [a.id]);
    // What a lost bus message leaves behind: the row is gone, nobody told this instance.
    await t.backend.sql(`DELETE FROM sessions WHERE id = $1`, [session.id]);
    // No timer of our own (a loaded CI machine is slow): a socket never closed fails the test at jest's timeout.
    expect(await ws.closed).toEqual({ code: 4003, reason: 'session ended' });
  });

  it("counts an open socket as its session in use: a device connected for months is neither signed out by expiry nor deleted as unused", async () => {
    const a = await signUp(t);
    const ws = await connect(t, a);
    // As if the socket had been open for two months without an HTTP request.
    await t.backend.sql(`UPDATE sessions SET last_active_at = now() - interval '60 days', expires_at = now() + interval '30 days' WHERE user_id = $1`, [a.id]);
    await t.backend.sql(`UPDATE users SET last_active_at = now() - interval '60 days' WHERE id = $1`, [a.id]);
    await eventually(async () => {
      const [row] = await t.backend.sql<{ session: boolean; expiry: boolean; user: boolean }>(
        `SELECT s.last_active_at > now() - interval '1 minute' AS session, s.expires_at > now() + interval '89 days' AS expiry, u.last_active_at > now() - interval '1 minute' AS user
           FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.user_id = $1`,
        [a.id],
      );
      expect(row).toEqual({ session: true, expiry: true, user: true });
    }, 5_000);
    ws.close();
  });

  it('closes an expired session\'s socket and keeps the others', async () => {
    const a = await signUp(t);
    const second = await signIn(t, a.email);
    const [expiring, staying] = [await connect(t, a), await connect(t, second)];
    await t.backend.sql(`UPDATE sessions SET expires_at = now() - interval '1 second' WHERE token_hash = $1`, [sha256(a.token)]);
    expect(await expiring.closed).toMatchObject({ code: 4003 });
    staying.send('presence:ping');
    await staying.expectNo('error', () => true, 1_500);
    expect(staying.socket.readyState).toBe(staying.socket.OPEN);
    staying.close();
  });
});

describe('a socket the server closed for its ended session', () => {
  let t: TestApp;
  // The event and connect budgets at their default bursts (the harness lifts them), refilled
  // slowly: a test's frames run them out however long a loaded machine takes to answer.
  beforeAll(async () => (t = await createTestApp({ env: { WS_RATE_EVENTS: '120/120', WS_RATE_CONNECT: '30/600' } })));
  afterAll(() => t.close());

  /** A masked client text frame, written under the client library (which stops sending once it saw the close). */
  const clientFrame = (text: string): Buffer => {
    const body = Buffer.from(text);
    if (body.length > 125) throw new Error('short frames only');
    return Buffer.concat([Buffer.from([0x81, 0x80 | body.length, 0, 0, 0, 0]), body]);
  };

  it('acts on no frame of a client that does not answer the close: a stolen device cannot go on as its user', async () => {
    const [a, b] = [await signUp(t), await signUp(t)];
    const chatId = await openDirect(t, a, b);
    const [thief, bws] = [await connect(t, a), await connect(t, b)];
    await send(thief, chatId, 'before the logout');
    const raw = (thief.socket as unknown as { _socket: { pause(): void; write(b: Buffer): void } })._socket;
    // The thief's client reads nothing more, so it never answers the server's close frame.
    raw.pause();
    await t.http().post('/api/auth/logout').set(a.auth).expect(200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    raw.write(clientFrame(JSON.stringify({ event: 'message:send', payload: { chatId, text: 'after', clientMessageId: 'x1' } })));
    raw.write(clientFrame(JSON.stringify({ event: 'typing:start', payload: { chatId } })));
    await bws.expectNo('message:new', (m) => m.text === 'after', 1_500);
    await bws.expectNo('typing:started', () => true, 100);
    expect(await t.backend.sql(`SELECT 1 FROM messages WHERE chat_id = $1 AND text = 'after'`, [chatId])).toEqual([]);
    thief.socket.terminate();
    bws.close();
  });

  it('runs no frame that was waiting its turn on the socket when its session ended', async () => {
    const [a, b] = [await signUp(t), await signUp(t)];
    const chatId = await openDirect(t, a, b);
    const [aws, bws] = [await connect(t, a), await connect(t, b)];
    await send(aws, chatId, 'hello');
    const message = await send(bws, chatId, 'for a to read');
    const { spy: held, release, restore } = holdCalls(t.app.get(MessagesService), 'markRead');
    // A frame is charged to its budget as it arrives: the sign that the send reached the server, queued behind the held read.
    const charged = jest.spyOn(t.app.get(SocketLimits), 'consume');
    try {
      aws.send('message:read', { messageId: message.id });
      await eventually(async () => expect(held).toHaveBeenCalledTimes(1));
      aws.send('message:send', { chatId, text: 'queued behind the read', clientMessageId: 'q1' });
      await eventually(async () => expect(charged).toHaveBeenCalledWith(a.id, 'message:send'));
      await t.http().post('/api/auth/logout').set(a.auth).expect(200);
      expect(await aws.closed).toMatchObject({ code: 4003 });
      release();
      await bws.expectNo('message:new', (m) => m.text === 'queued behind the read', 1_500);
      expect(await t.backend.sql(`SELECT 1 FROM messages WHERE chat_id = $1 AND text = 'queued behind the read'`, [chatId])).toEqual([]);
    } finally {
      release();
      restore();
      charged.mockRestore();
      bws.close();
    }
  });

  it('counts auth frames on a signed-in socket against the connect budget: a replay or snapshot each, never free', async () => {
    const a = await signUp(t);
    const ws = await connect(t, a);
    for (let i = 0; i < 40; i++) ws.send('auth', { lastSeq: null });
    const refused = await ws.waitFor('error', (e) => e.code === 'RATE_LIMIT');
    expect(refused).toMatchObject({ code: 'RATE_LIMIT', retryAfter: expect.any(Number) });
    ws.close();
  });
});

(TEST_REDIS_URL ? describe : describe.skip)('an ended session while Redis is unreachable (two instances)', () => {
  let backend: TestBackend;
  let proxy: TcpProxy;
  let one: TestApp;
  let two: TestApp;
  beforeAll(async () => {
    backend = await createBackend();
    const target = new URL(TEST_REDIS_URL!);
    proxy = await new TcpProxy({ host: target.hostname, port: Number(target.port || 6379) }).start();
    one = await createTestApp({ backend });
    // Instance two reaches Redis only through the proxy the test cuts; its periodic re-check is
    // far off, so what closes the socket in time is the re-check on the bus coming back.
    two = await createTestApp({ backend, env: { REDIS_URL: `redis://127.0.0.1:${proxy.port}`, SESSION_RECHECK_SECONDS: '600' } });
  });
  afterAll(async () => {
    await two.close();
    await one.close();
    await proxy.close();
    await backend.close();
  });

  it('closes the socket on the cut-off instance when its bus returns, before delivering anything to it', async () => {
    const [victim, friend] = await Promise.all([signUp(one), signUp(one)]);
    const chatId = await openDirect(one, friend, victim);
    const friendWs = await connect(one, friend);
    await send(friendWs, chatId, 'before');
    const stolen = await signIn(one, victim.email, 'stolen-laptop');
    const stolenWs = await connect(two, stolen);
    const [stolenSession] = await backend.sql<{ id: string }>(`SELECT id FROM sessions WHERE user_id = $1 AND user_agent = 'stolen-laptop'`, [victim.id]);

    await proxy.cut();
    await one.http().delete(`/api/auth/sessions/${stolenSession.id}`).set(victim.auth).expect(200);
    await send(friendWs, chatId, 'during the cut');
    await proxy.restore();
    // Everything the friend sends from now on reaches instance two through the bus it just regained.
    const deadline = Date.now() + 15_000;
    const closed = stolenWs.closed.then((c) => c);
    let outcome: unknown = 'still open';
    while (Date.now() < deadline) {
      await send(friendWs, chatId, 'after the cut');
      outcome = await Promise.race([closed, new Promise((resolve) => setTimeout(() => resolve('still open'), 250))]);
      if (outcome !== 'still open') break;
    }
    expect(outcome).toMatchObject({ code: 4003 });
    expect(stolenWs.frames.filter((f) => f.event === 'message:new').map((f) => f.payload.text)).toEqual([]);
    await one.http().get('/api/users/me').set(stolen.auth).expect(401);
    friendWs.close();
  }, 30_000);
});

/**
 * Logout and "terminate session" close the session's sockets at once, by the disconnect they
 * publish: the periodic re-check, which would close them too, is an hour away here.
 */
describe('ending a session closes its sockets at once', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp({ env: { SESSION_RECHECK_SECONDS: '3600' } })));
  afterAll(() => t.close());

  /** How the socket closed, or 'still open' after 3 s: a bound on the close, not on the server's speed. */
  const closedSoon = (ws: WsClient) => Promise.race([ws.closed, new Promise((resolve) => setTimeout(() => resolve('still open'), 3_000))]);
  const sessionOf = async (user: { token: string }) => (await t.backend.sql<{ id: string }>(`SELECT id FROM sessions WHERE token_hash = $1`, [sha256(user.token)]))[0].id;

  it('closes the socket of a logged-out session with 4003', async () => {
    const a = await signUp(t);
    const ws = await connect(t, a);
    await t.http().post('/api/auth/logout').set(a.browser).expect(200);
    expect(await closedSoon(ws)).toEqual({ code: 4003, reason: 'logged out' });
  });

  it('closes the socket of a session ended by DELETE /api/auth/sessions/:id with 4003, and keeps the caller\'s', async () => {
    const a = await signUp(t);
    const other = await signIn(t, a.email, 'other-device');
    const [own, ended] = [await connect(t, a), await connect(t, other)];
    await t.http().delete(`/api/auth/sessions/${await sessionOf(other)}`).set(a.auth).expect(200);
    expect(await closedSoon(ended)).toEqual({ code: 4003, reason: 'session terminated' });
    expect(own.socket.readyState).toBe(own.socket.OPEN);
    own.close();
  });

  it('closes the sockets of every other session ended by DELETE /api/auth/sessions with 4003, and keeps the caller\'s', async () => {
    const a = await signUp(t);
    const [phone, laptop] = [await signIn(t, a.email, 'phone'), await signIn(t, a.email, 'laptop')];
    const own = await connect(t, a);
    const others = [await connect(t, phone), await connect(t, laptop)];
    expect((await t.http().delete('/api/auth/sessions').set(a.auth).expect(200)).body.data).toEqual({ terminated: 2 });
    expect(await Promise.all(others.map(closedSoon))).toEqual([
      { code: 4003, reason: 'session terminated' },
      { code: 4003, reason: 'session terminated' },
    ]);
    expect(own.socket.readyState).toBe(own.socket.OPEN);
    own.close();
  });
});
