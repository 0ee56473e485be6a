import { eventually } from '../support/factories';
import { TEST_REDIS_URL } from '../support/env';
import { TcpProxy } from '../support/tcp-proxy';
import { createBackend, createTestApp, TestApp } from '../support/test-app';

describe('foundation', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  it('answers /health with the envelope', async () => {
    const res = await t.http().get('/health').expect(200);
    expect(res.body).toEqual({ success: true, data: { status: 'ok', timestamp: expect.any(String) } });
    expect(Number.isNaN(Date.parse(res.body.data.timestamp))).toBe(false);
  });

  it('checks the database and Redis on /api/health', async () => {
    const res = await t.http().get('/api/health').expect(200);
    expect(res.body.data).toEqual({ status: 'ok', timestamp: expect.any(String), db: 'ok', redis: TEST_REDIS_URL ? 'ok' : 'embedded' });
  });

  it('answers an unknown route with 404 NOT_FOUND in the envelope', async () => {
    const res = await t.http().get('/api/no-such-route').expect(404);
    expect(res.body).toEqual({ success: false, code: 'NOT_FOUND', message: expect.any(String) });
  });

  it('answers malformed JSON with 400 INVALID_JSON', async () => {
    const res = await t.http().post('/api/auth/send-otp').set('Content-Type', 'application/json').send('{"email": ').expect(400);
    expect(res.body).toEqual({ success: false, code: 'INVALID_JSON', message: expect.any(String) });
  });

  it('answers an oversized body with 413 PAYLOAD_TOO_LARGE', async () => {
    const res = await t.http().post('/api/auth/send-otp').set('Content-Type', 'application/json').send(JSON.stringify({ email: 'x'.repeat(300_000) })).expect(413);
    expect(res.body).toMatchObject({ success: false, code: 'PAYLOAD_TOO_LARGE' });
  });

  it('carries a request id on every response', async () => {
    const res = await t.http().get('/health').set('X-Request-Id', 'abc-123').expect(200);
    expect(res.headers['x-request-id']).toBe('abc-123');
  });

  it('serves the OpenAPI document', async () => {
    const res = await t.http().get('/api/docs-json').expect(200);
    expect(res.body.openapi).toMatch(/^3\./);
    expect(Object.keys(res.body.paths)).toEqual(expect.arrayContaining(['/health', '/api/health']));
    await t.http().get('/api/docs').expect(200).expect('Content-Type', /html/);
  });

  it('documents the errors the routes really answer: 429 RATE_LIMIT on every /api route, and the codes reviews found missing', async () => {
    const { paths } = (await t.http().get('/api/docs-json').expect(200)).body as { paths: Record<string, Record<string, { responses: Record<string, any> }>> };
    const codes = (path: string, method: string, status: number): string[] => paths[path]?.[method]?.responses[String(status)]?.content['application/json'].schema.properties.code.enum ?? [];
    const withoutLimit = Object.entries(paths).flatMap(([path, item]) =>
      path.startsWith('/api/') ? Object.keys(item).filter((method) => !codes(path, method, 429).includes('RATE_LIMIT')).map((method) => `${method} ${path}`) : [],
    );
    expect(withoutLimit).toEqual([]);
    expect(codes('/api/users/me', 'patch', 429)).toEqual(['RATE_LIMIT']);
    expect(codes('/api/auth/verify-otp', 'post', 429)).toEqual(expect.arrayContaining(['OTP_MAX_ATTEMPTS', 'RATE_LIMIT']));
    for (const [path, method] of [['/api/messages/{id}', 'patch'], ['/api/messages/{id}/hide', 'post'], ['/api/messages/{id}/reactions', 'post']]) {
      expect(codes(path, method, 403)).toContain('FORBIDDEN');
    }
    for (const path of ['/api/upload', '/api/upload/avatar', '/api/upload/encrypted']) expect(codes(path, 'post', 400)).toContain('BAD_REQUEST');
    expect(codes('/api/upload', 'post', 503)).toEqual(['SERVICE_UNAVAILABLE']);
    expect(codes('/api/auth/send-otp', 'post', 503)).toEqual(['EMAIL_SEND_FAILED']);
  });

  it('answers a WebSocket frame that is not JSON with an error event, and keeps the socket', async () => {
    const ws = await t.ws();
    ws.sendRaw('not json');
    expect(await ws.waitFor('error')).toMatchObject({ code: 'INVALID_FRAME' });
    ws.send('typing:start', { chatId: 'x' });
    expect(await ws.waitFor('error')).toMatchObject({ code: 'UNAUTHORIZED' });
    ws.close();
  });
});

describe('rate limits', () => {
  it('answers 429 RATE_LIMIT with Retry-After once the /api limit is spent, sharing counters between instances', async () => {
    const backend = await createBackend();
    const env = { RATE_LIMIT_API: '4/60' };
    const a = await createTestApp({ backend, env });
    const b = TEST_REDIS_URL ? await createTestApp({ backend, env }) : a;
    try {
      for (const instance of [a, a, b, b]) await instance.http().get('/api/health').expect(200);
      const res = await b.http().get('/api/health').expect(429);
      expect(res.body).toEqual({ success: false, code: 'RATE_LIMIT', message: expect.any(String), retryAfter: expect.any(Number) });
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      if (b !== a) await a.http().get('/api/health').expect(429);
      // /health is exempt
      for (let i = 0; i < 6; i++) await a.http().get('/health').expect(200);
    } finally {
      if (b !== a) await b.close();
      await a.close();
      await backend.close();
    }
  });

  it('keys counters by the X-Forwarded-For client when TRUST_PROXY is set', async () => {
    const t = await createTestApp({ env: { RATE_LIMIT_API: '2/60', TRUST_PROXY: '1' } });
    try {
      for (let i = 0; i < 2; i++) await t.http().get('/api/health').set('X-Forwarded-For', '203.0.113.7').expect(200);
      await t.http().get('/api/health').set('X-Forwarded-For', '203.0.113.7').expect(429);
      await t.http().get('/api/health').set('X-Forwarded-For', '203.0.113.8').expect(200);
      // Express finds the route whatever the path's case: the limit counts it the same.
      for (let i = 0; i < 2; i++) await t.http().get('/API/health').set('X-Forwarded-For', '203.0.113.9').expect(200);
      expect((await t.http().get('/Api/Health').set('X-Forwarded-For', '203.0.113.9').expect(429)).body.code).toBe('RATE_LIMIT');
    } finally {
      await t.close();
    }
  });
});

(TEST_REDIS_URL ? describe : describe.skip)('health with Redis down', () => {
  it('turns /api/health to 503 when Redis becomes unreachable, and back to 200 when it returns', async () => {
    const target = new URL(TEST_REDIS_URL!);
    const proxy = await new TcpProxy({ host: target.hostname, port: Number(target.port || 6379) }).start();
    const t = await createTestApp({ env: { REDIS_URL: `redis://127.0.0.1:${proxy.port}` } });
    try {
      await t.http().get('/api/health').expect(200);
      await proxy.cut();
      const res = await t.http().get('/api/health').expect(503);
      expect(res.body).toMatchObject({ success: false, code: 'SERVICE_UNAVAILABLE', data: { status: 'error', db: 'ok', redis: 'down' } });
      // Redis returns: the app's clients (the queue's included) reconnect by themselves, and the
      // app can shut down cleanly instead of leaving clients retrying forever.
      await proxy.restore();
      await eventually(async () => t.http().get('/api/health').expect(200), 15_000);
    } finally {
      await t.close();
      await proxy.close();
    }
  });
});
