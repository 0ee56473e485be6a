import { randomUUID } from 'node:crypto';
import { connect, openDirect, send } from '../support/chats';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../support/env';
import { eventually, signUp, uniqueEmail } from '../support/factories';
import { TcpProxy } from '../support/tcp-proxy';
import { createBackend, createTestApp, TestApp, TestBackend } from '../support/test-app';
import { WsClient } from '../support/ws-client';

/** Longer than any degraded answer may take, far shorter than the outage: a request that waits on Redis fails this. */
const ANSWER_WITHIN_MS = 3_000;

function proxyTo(url: string, defaultPort: number): Promise<TcpProxy> {
  const target = new URL(url);
  return new TcpProxy({ host: target.hostname, port: Number(target.port || defaultPort) }).start();
}

(TEST_REDIS_URL ? describe : describe.skip)('a Redis outage degrades instead of stalling (two instances)', () => {
  let backend: TestBackend;
  let proxy: TcpProxy;
  let cutOff: TestApp;
  let healthy: TestApp;
  beforeAll(async () => {
    backend = await createBackend();
    proxy = await proxyTo(TEST_REDIS_URL!, 6379);
    cutOff = await createTestApp({ backend, env: { REDIS_URL: `redis://127.0.0.1:${proxy.port}` } });
    healthy = await createTestApp({ backend });
  });
  afterAll(async () => {
    await cutOff.close();
    await healthy.close();
    await proxy.close();
    await backend.close();
  });

  it('answers reads, stores and delivers messages locally, refuses mail with 503 while Redis is cut, and recovers after', async () => {
    const [a, b, c] = await Promise.all([signUp(cutOff), signUp(cutOff), signUp(healthy)]);
    const chatId = await openDirect(cutOff, a, b);
    const withC = await openDirect(cutOff, a, c);
    const [aws, bws] = [await connect(cutOff, a), await connect(cutOff, b)];
    await send(aws, chatId, 'before the cut');
    await send(aws, withC, 'hello c');

    await proxy.cut();
    const reads = ['/api/users/me', '/api/chats', `/api/chats/${chatId}/messages`, `/api/users/search?q=${b.nickname.slice(0, 6)}`, `/api/users/${b.id}`];
    for (const path of reads) {
      const res = await cutOff.http().get(path).set(a.auth).timeout(ANSWER_WITHIN_MS);
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
    }
    // Presence unknown reads as offline.
    expect((await cutOff.http().get(`/api/users/${b.id}`).set(a.auth).timeout(ANSWER_WITHIN_MS)).body.data.isOnline).toBe(false);

    // A message is stored, acknowledged and delivered to the sockets of this instance.
    const during = await send(aws, chatId, 'during the cut');
    expect(await bws.waitFor('message:new', (m) => m.id === during.id, ANSWER_WITHIN_MS)).toMatchObject({ text: 'during the cut' });
    const [stored] = await backend.sql(`SELECT text FROM messages WHERE id = $1`, [during.id]);
    expect(stored).toEqual({ text: 'during the cut' });

    // A socket opened during the outage is authenticated.
    const late = await cutOff.ws({ cookie: b.cookie });
    expect(await late.waitFor('auth:ok', () => true, ANSWER_WITHIN_MS)).toMatchObject({ userId: b.id });
    late.close();

    // No mail job can be queued: a clear 503, and the user may ask again at once.
    const email = uniqueEmail('cut');
    const otp = await cutOff.http().post('/api/auth/send-otp').send({ email }).timeout(ANSWER_WITHIN_MS);
    expect(otp.status).toBe(503);
    expect(otp.body).toMatchObject({ success: false, code: 'EMAIL_SEND_FAILED' });
    expect(otp.headers['retry-after']).toBeDefined();

    // c, on the healthy instance, writes to a: stored and in a's log, but the cut-off instance hears nothing of it.
    const cws = await connect(healthy, c);
    const lastSeq = aws.lastSeq(0);
    const missed = await send(cws, withC, 'sent while a was cut off');
    await aws.expectNo('message:new', (m) => m.id === missed.id);

    // Redis comes back, the command connection last (each connection reconnects on its own backoff).
    await proxy.restore({ containing: 'h2v:commands', forMs: 1_500 });
    await eventually(async () => cutOff.http().get('/api/health').expect(200), 15_000);
    await cutOff.http().post('/api/auth/send-otp').send({ email }).expect(200);
    // The sockets the cut-off instance held are closed to resume what they missed, and a resume gets it.
    expect(await aws.closed).toMatchObject({ code: 1012 });
    expect(await bws.closed).toMatchObject({ code: 1012 });
    // Those closes dropped the leases they held: c sees a go offline now, not when a lease lapses.
    await cws.waitFor('user:offline', (p) => p.userId === a.id, 5_000);
    expect(lastSeq).toBeGreaterThanOrEqual(1);
    const back = await WsClient.connect(cutOff.wsUrl);
    back.send('auth', { token: a.token, lastSeq });
    expect(await back.waitFor('message:new', (m) => m.id === missed.id, 5_000)).toMatchObject({ text: 'sent while a was cut off' });
    // Fan-out across instances works again: c hears a's next message.
    await eventually(async () => {
      const m = await send(back, withC, `after ${randomUUID()}`);
      await cws.waitFor('message:new', (p) => p.id === m.id, 500);
    }, 15_000);
    // Presence is shared again: c saw a come back, then sees a go offline and come back again.
    await cws.waitFor('user:online', (p) => p.userId === a.id, 5_000);
    back.close();
    await cws.waitFor('user:offline', (p) => p.userId === a.id, 5_000);
    const again = await connect(cutOff, a);
    await cws.waitFor('user:online', (p) => p.userId === a.id, 5_000);
    [again, cws].forEach((s) => s.close());
  }, 60_000);
});

(TEST_DATABASE_URL ? describe : describe.skip)('a PostgreSQL outage', () => {
  let backend: TestBackend;
  let proxy: TcpProxy;
  let t: TestApp;
  beforeAll(async () => {
    backend = await createBackend();
    proxy = await proxyTo(backend.env.DATABASE_URL!, 5432);
    const url = new URL(backend.env.DATABASE_URL!);
    url.host = `127.0.0.1:${proxy.port}`;
    t = await createTestApp({ backend, env: { DATABASE_URL: url.toString() } });
  });
  afterAll(async () => {
    await t.close();
    await proxy.close();
    await backend.close();
  });

  it('answers 503 with Retry-After, and closes new sockets with 1013 (not a logout), until the database is back', async () => {
    const [a, b] = await Promise.all([signUp(t), signUp(t)]);
    await proxy.cut();
    const res = await t.http().get('/api/users/me').set(a.auth);
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ success: false, code: 'SERVICE_UNAVAILABLE' });
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    expect(JSON.stringify(res.body)).not.toMatch(/ECONNREFUSED|stack|at /);

    const ws = await t.ws({ cookie: b.cookie });
    expect(await ws.closed).toMatchObject({ code: 1013 });

    await proxy.restore();
    await eventually(async () => t.http().get('/api/users/me').set(a.auth).expect(200), 15_000);
    const back = await connect(t, b);
    back.close();
  }, 30_000);

  it('closes with 1013 a socket whose session was known but whose setup cannot read the database, instead of leaving it waiting for auth:ok', async () => {
    const c = await signUp(t);
    // A socket's authentication leaves the session in this instance's cache for a few seconds.
    (await connect(t, c)).close();
    await proxy.cut();
    try {
      const ws = await t.ws({ cookie: c.cookie });
      expect(await ws.waitFor('error')).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      expect(await ws.closed).toMatchObject({ code: 1013 });
      expect(ws.frames.map((f) => f.event)).not.toContain('auth:ok');
    } finally {
      await proxy.restore();
    }
    await eventually(async () => (await connect(t, c)).close(), 15_000);
  }, 30_000);
});
