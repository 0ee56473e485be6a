import type { IncomingMessage } from 'node:http';
import WebSocket from 'ws';
import { signUp, TestUser, uniqueEmail } from '../support/factories';
import { createTestApp, TestApp } from '../support/test-app';

const WEB_CLIENT = 'https://web.h2v.example';
const EVIL = 'https://evil.example';

type Frame = { event: string; payload: any };

/**
 * Opens a raw upgrade and reports what the server answered: an open socket (with its first frame,
 * listened for from the start as it may arrive with the handshake) or an HTTP refusal.
 */
function upgrade(url: string, headers: Record<string, string>): Promise<{ opened: true; socket: WebSocket; firstFrame: Promise<Frame> } | { opened: false; status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, { headers });
    const firstFrame = new Promise<Frame>((resolveFrame) => socket.once('message', (data) => resolveFrame(JSON.parse(data.toString()))));
    socket.once('open', () => resolve({ opened: true, socket, firstFrame }));
    socket.once('unexpected-response', (req, res: IncomingMessage) => {
      let body = '';
      res.on('data', (chunk: Buffer) => (body += chunk.toString()));
      res.on('end', () => {
        req.destroy();
        resolve({ opened: false, status: res.statusCode ?? 0, body });
      });
    });
    socket.once('error', reject);
  });
}

describe('cross-origin requests (CSRF)', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp({ env: { CORS_ORIGINS: WEB_CLIENT } })));
  afterAll(() => t.close());

  const blockRows = (user: TestUser, target: TestUser) => t.backend.sql('SELECT 1 FROM blocks WHERE blocker_id = $1 AND blocked_id = $2', [user.id, target.id]);

  it('refuses a foreign-origin POST that carries the session cookie with 403 ORIGIN_NOT_ALLOWED, and blocks nobody', async () => {
    const [victim, target] = [await signUp(t), await signUp(t)];
    const res = await t.http().post(`/api/users/${target.id}/block`).set(victim.browser).set('Origin', EVIL).expect(403);
    expect(res.body).toEqual({ success: false, code: 'ORIGIN_NOT_ALLOWED', message: expect.any(String) });
    expect(await blockRows(victim, target)).toHaveLength(0);
  });

  it('refuses a foreign-origin contact add and profile change, changing nothing', async () => {
    const [victim, target] = [await signUp(t), await signUp(t)];
    await t.http().post(`/api/contacts/${target.id}`).set(victim.browser).set('Origin', EVIL).expect(403);
    expect(await t.backend.sql('SELECT 1 FROM contacts WHERE owner_id = $1', [victim.id])).toHaveLength(0);

    const patch = await t.http().patch('/api/users/me').set(victim.browser).set('Origin', EVIL).send({ firstName: 'Pwned' }).expect(403);
    expect(patch.body.code).toBe('ORIGIN_NOT_ALLOWED');
    expect(await t.backend.sql('SELECT first_name FROM users WHERE id = $1', [victim.id])).toEqual([{ first_name: null }]);
  });

  it('refuses Origin: null (sandboxed frames, data: pages) like a foreign origin', async () => {
    const [victim, target] = [await signUp(t), await signUp(t)];
    const res = await t.http().delete(`/api/users/${target.id}/block`).set(victim.browser).set('Origin', 'null').expect(403);
    expect(res.body.code).toBe('ORIGIN_NOT_ALLOWED');
  });

  it('accepts the same origin, the CORS_ORIGINS and requests without Origin', async () => {
    const [user, a, b, c] = [await signUp(t), await signUp(t), await signUp(t), await signUp(t)];
    await t.http().post(`/api/users/${a.id}/block`).set(user.browser).set('Origin', t.url).expect(200);
    await t.http().post(`/api/users/${b.id}/block`).set(user.browser).set('Origin', WEB_CLIENT).expect(200);
    await t.http().post(`/api/users/${c.id}/block`).set(user.auth).expect(200);
    for (const target of [a, b, c]) expect(await blockRows(user, target)).toHaveLength(1);
  });

  it('still answers reads from any origin: only state-changing methods are checked', async () => {
    const user = await signUp(t);
    const res = await t.http().get('/api/users/me').set('Cookie', user.cookie).set('Origin', EVIL).expect(200);
    expect(res.body.data.id).toBe(user.id);
  });

  it('refuses a WebSocket upgrade from a foreign origin with 403 before any socket exists', async () => {
    const victim = await signUp(t);
    for (const origin of [EVIL, 'null']) {
      const refused = await upgrade(t.wsUrl, { Cookie: victim.cookie, Origin: origin });
      expect(refused).toMatchObject({ opened: false, status: 403 });
      expect(JSON.parse((refused as { body: string }).body)).toEqual({ success: false, code: 'ORIGIN_NOT_ALLOWED', message: expect.any(String) });
    }
  });

  it('opens the WebSocket for the same origin and the CORS_ORIGINS, authenticated by the cookie', async () => {
    const user = await signUp(t);
    for (const origin of [t.url, WEB_CLIENT]) {
      const result = await upgrade(t.wsUrl, { Cookie: user.cookie, Origin: origin });
      if (!result.opened) throw new Error(`upgrade from ${origin} refused with ${result.status}`);
      expect(await result.firstFrame).toMatchObject({ event: 'auth:ok', payload: { userId: user.id } });
      result.socket.close();
    }
  });
});

describe('request bodies', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  it('answers a urlencoded body with 415 UNSUPPORTED_MEDIA_TYPE and does not act on it', async () => {
    const email = uniqueEmail('form');
    const res = await t.http().post('/api/auth/send-otp').type('form').send({ email }).expect(415);
    expect(res.body).toEqual({ success: false, code: 'UNSUPPORTED_MEDIA_TYPE', message: expect.any(String) });
    expect(await t.backend.sql('SELECT 1 FROM otp_codes WHERE email = $1', [email])).toHaveLength(0);
  });

  it('answers a text/plain body (the other type a form can send) with 415 and leaves the profile alone', async () => {
    const user = await signUp(t);
    await t.http().patch('/api/users/me').set(user.auth).set('Content-Type', 'text/plain').send('{"firstName":"Plain"}').expect(415);
    expect(await t.backend.sql('SELECT first_name FROM users WHERE id = $1', [user.id])).toEqual([{ first_name: null }]);
  });

  it('still reads JSON with a charset, and bodiless requests of any declared type', async () => {
    const user = await signUp(t);
    await t.http().patch('/api/users/me').set(user.auth).set('Content-Type', 'application/json; charset=utf-8').send('{"firstName":"Ana"}').expect(200);
    expect(await t.backend.sql('SELECT first_name FROM users WHERE id = $1', [user.id])).toEqual([{ first_name: 'Ana' }]);
    const target = await signUp(t);
    await t.http().post(`/api/users/${target.id}/block`).set(user.auth).set('Content-Type', 'text/plain').expect(200);
  });
});

describe('response headers', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  it('marks API answers, errors included, nosniff and no-store', async () => {
    const user = await signUp(t);
    for (const res of [
      await t.http().get('/api/users/me').set(user.auth).expect(200),
      await t.http().get('/api/users/me').expect(401),
      await t.http().get('/api/no-such-route').expect(404),
      await t.http().post('/api/auth/send-otp').send({ email: 'not-an-email' }).expect(422),
    ]) {
      expect(res.headers).toMatchObject({ 'x-content-type-options': 'nosniff', 'cache-control': 'no-store' });
    }
  });
});

describe('behind a load balancer (TRUST_PROXY=1), docs off', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp({ env: { TRUST_PROXY: '1', API_DOCS: 'off' } })));
  afterAll(() => t.close());

  it('takes the own origin from X-Forwarded-Proto and X-Forwarded-Host', async () => {
    const [user, target] = [await signUp(t), await signUp(t)];
    const forwarded = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'chat.h2v.example' };
    await t.http().post(`/api/users/${target.id}/block`).set(forwarded).set(user.browser).set('Origin', t.url).expect(403);
    await t.http().post(`/api/users/${target.id}/block`).set(forwarded).set(user.browser).set('Origin', 'https://chat.h2v.example').expect(200);

    const ws = await upgrade(t.wsUrl, { ...forwarded, Cookie: user.cookie, Origin: 'https://chat.h2v.example' });
    if (!ws.opened) throw new Error(`upgrade refused with ${ws.status}`);
    expect(await ws.firstFrame).toMatchObject({ event: 'auth:ok' });
    ws.socket.close();
  });

  it('answers /api/docs, /api/docs-json and the AsyncAPI document with 404 when API_DOCS=off', async () => {
    for (const path of ['/api/docs', '/api/docs-json', '/api/docs/asyncapi.json']) {
      const res = await t.http().get(path).expect(404);
      expect(res.body).toEqual({ success: false, code: 'NOT_FOUND', message: expect.any(String) });
    }
  });
});
