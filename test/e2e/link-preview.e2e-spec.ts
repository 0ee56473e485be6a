import * as http from 'node:http';
import { gzipSync } from 'node:zlib';
import { AddressInfo, Socket } from 'node:net';
import { connect, openDirect, send } from '../support/chats';
import { TEST_REDIS_URL } from '../support/env';
import { eventually, signUp, TestUser } from '../support/factories';
import { image } from '../support/media-fixtures';
import { createBackend, createTestApp, TestApp, TestBackend } from '../support/test-app';

const NULLS = { title: null, description: null, image: null, siteName: null };
const MB = 1024 * 1024;

/**
 * A web server on 127.0.0.1 playing the remote sites: it records every request it receives, so
 * a test can tell "refused before connecting" from "fetched and found nothing".
 */
class RemoteSite {
  readonly requests: string[] = [];
  /** Paths whose response the client closed before the server had sent it all. */
  readonly cutOff: string[] = [];
  private server!: http.Server;
  private readonly sockets = new Set<Socket>();
  port = 0;
  png!: Buffer;

  get origin(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  hits(path: string): number {
    return this.requests.filter((r) => r === path).length;
  }

  async start(): Promise<this> {
    this.png = await image('png', 32, 24);
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    this.requests.push(req.url!);
    // Routed by path; the query only makes URLs distinct (and so cache entries).
    const path = new URL(req.url!, this.origin).pathname;
    const html = (body: string) => void res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' }).end(body);
    const redirect = (location: string) => void res.writeHead(302, { Location: location }).end();
    const chain = /^\/r\/(\d+)$/.exec(path);
    if (chain) return redirect(Number(chain[1]) > 1 ? `/r/${Number(chain[1]) - 1}` : '/og');
    switch (path) {
      case '/og':
        return html(`<!doctype html><html><head>
          <title>Fallback title</title>
          <meta property="og:title" content="Open Graph title">
          <meta property="og:description" content="Open Graph description">
          <meta property="og:image" content="/images/cover.jpg">
          <meta property="og:site_name" content="Local Site">
          </head><body>…</body></html>`);
      case '/twitter':
        return html(`<html><head>
          <meta name="twitter:card" content="summary_large_image">
          <meta name="twitter:title" content="Twitter title">
          <meta name="twitter:description" content="Twitter description">
          <meta name="twitter:image" content="https://cdn.example/card.png">
          </head><body></body></html>`);
      case '/title':
        return html('<html><head><title>  Only a &lt;title&gt;  </title></head><body>hello</body></html>');
      case '/empty':
        return html('<html><body>no head at all</body></html>');
      case '/huge':
        return this.huge(res);
      case '/slow':
        return; // never answers
      case '/redirect':
        return redirect(new URL(req.url!, this.origin).searchParams.get('to')!);
      case '/to-image':
        return redirect('/image.png');
      case '/image.png':
        return void res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': String(this.png.length) }).end(this.png);
      case '/page.html':
        return html('<html><head><title>not an image</title></head></html>');
      case '/big.png':
        res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Length': String(6 * MB) });
        return this.stream(res, path, 6 * MB);
      case '/gzipped.png':
        // Sent encoded though the request asked for none.
        return void res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Encoding': 'gzip' }).end(gzipSync(this.png));
      case '/gzip-bomb.png':
        // 30 MB of zeros in about 30 KB.
        return void res.writeHead(200, { 'Content-Type': 'image/png', 'Content-Encoding': 'gzip' }).end(gzipSync(Buffer.alloc(30 * MB)));
      case '/big-chunked.png':
        res.writeHead(200, { 'Content-Type': 'image/png' });
        return this.stream(res, path, 8 * MB);
      default:
        return void res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
    }
  }

  /** 1.5 MB of comment inside <head> between the title and the description: only the title is within 1 MB. */
  private huge(res: http.ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.write('<html><head><title>Huge page</title><!--');
    this.stream(res, '/huge', Math.round(1.5 * MB), () => res.write('--><meta property="og:description" content="past the cap"></head><body>'), 8 * MB);
  }

  /** Writes `total` filler bytes with back-pressure; records the path when the client hangs up first. */
  private stream(res: http.ServerResponse, path: string, total: number, after?: () => void, more = 0): void {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    let sent = 0;
    let finished = false;
    res.on('close', () => {
      if (!finished) this.cutOff.push(path);
    });
    const pump = () => {
      while (sent < total + more && !res.destroyed) {
        if (sent >= total && after) {
          after();
          after = undefined;
        }
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      if (res.destroyed) return;
      finished = true;
      res.end();
    };
    pump();
  }
}

describe('link previews (v2.2 §10)', () => {
  let site: RemoteSite;
  let other: RemoteSite;
  /** A loopback port nothing listens on (taken, then let go). */
  let closedPort: number;

  beforeAll(async () => {
    site = await new RemoteSite().start();
    other = await new RemoteSite().start();
    const probe = http.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    closedPort = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
  });
  afterAll(async () => {
    await site.close();
    await other.close();
  });

  const preview = (t: TestApp, user: TestUser, url: string) => t.http().get('/api/link-preview').query({ url }).set(user.auth);
  /** The proxy's answer as a browser's connection sees it: bytes as sent (nothing unpacked), and whether it ended properly. */
  const rawProxy = (t: TestApp, user: TestUser, url: string) =>
    new Promise<{ status: number; received: number; complete: boolean }>((resolve, reject) => {
      let received = 0;
      http
        .get(`${t.url}/api/link-preview/proxy?url=${encodeURIComponent(url)}`, { headers: user.auth }, (res) => {
          res.on('data', (chunk: Buffer) => (received += chunk.length));
          res.on('error', () => undefined);
          res.on('close', () => resolve({ status: res.statusCode!, received, complete: res.complete }));
        })
        .on('error', reject);
    });
  const proxy = (t: TestApp, user: TestUser, url: string) =>
    t
      .http()
      .get('/api/link-preview/proxy')
      .query({ url })
      .set(user.auth)
      .buffer(true)
      .parse((res, done) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => done(null, Buffer.concat(chunks)));
      });
  const expectError = (res: { status: number; body: any }, status: number, code: string) =>
    expect({ status: res.status, success: res.body.success, code: res.body.code }).toEqual({ status, success: false, code });
  /**
   * The proof that the outbound policy refused a target, rather than the connection failing: a
   * failed connection or an unresolvable name answers 502 UPSTREAM_UNAVAILABLE on the proxy (the
   * preview route gives four nulls either way, so it cannot tell them apart).
   */
  const expectRefused = async (t: TestApp, user: TestUser, url: string, reason: string) => {
    const res = await t.http().get('/api/link-preview/proxy').query({ url }).set(user.auth);
    expect({ status: res.status, success: res.body.success, code: res.body.code, reason: res.body.reason }).toEqual({ status: 403, success: false, code: 'OUTBOUND_REFUSED', reason });
  };
  /** A target with SITE and OTHER replaced by the local servers' ports. */
  const withPorts = (template: string) => template.replace('SITE', String(site.port)).replace('OTHER', String(other.port));

  describe('with no OUTBOUND_ALLOW_HOSTS: the local server is loopback and refused', () => {
    let t: TestApp;
    let user: TestUser;
    beforeAll(async () => {
      t = await createTestApp();
      user = await signUp(t);
    });
    afterAll(() => t.close());
    beforeEach(() => {
      site.requests.length = 0;
      other.requests.length = 0;
    });

    it('has local servers that answer whoever connects: a refusal below is not a failed connection', async () => {
      for (const server of [site, other]) {
        const res = await fetch(`${server.origin}/image.png`);
        expect(res.status).toBe(200);
        expect(Buffer.compare(Buffer.from(await res.arrayBuffer()), server.png)).toBe(0);
      }
    });

    it('answers four nulls for the local server, which never sees a request', async () => {
      for (const path of ['/og', '/twitter', '/title', '/to-image']) {
        const res = await preview(t, user, `${site.origin}${path}`).expect(200);
        expect(res.body).toEqual({ success: true, data: { url: `${site.origin}${path}`, ...NULLS } });
      }
      expect(site.requests).toEqual([]);
    });

    it.each([
      ['loopback', 'http://127.0.0.1/'],
      ['IPv6 loopback', 'http://[::1]/'],
      ['the cloud metadata address', 'http://169.254.169.254/latest/meta-data/'],
      ['a private address', 'http://10.0.0.1/'],
      ['a host name resolving to loopback', 'http://localhost/'],
      ['loopback, on the port where the test server listens', 'http://127.0.0.1:SITE/image.png'],
      ['a host name resolving to loopback, on the port where the test server listens', 'http://localhost:SITE/image.png'],
      ['loopback, on the port where the other test server listens', 'http://127.0.0.1:OTHER/image.png'],
      ['loopback in decimal', 'http://2130706433/'],
      ['IPv4-mapped loopback', 'http://[::ffff:127.0.0.1]/'],
      ['the unspecified address', 'http://0.0.0.0/'],
    ])('refuses %s as not public: 403 OUTBOUND_REFUSED reason ADDRESS on the proxy, four nulls as a preview', async (_name, template) => {
      const url = withPorts(template);
      await expectRefused(t, user, url, 'ADDRESS');
      const res = await preview(t, user, url).expect(200);
      expect(res.body.data).toEqual({ url, ...NULLS });
      expect(site.requests).toEqual([]);
      expect(other.requests).toEqual([]);
    });

    it.each([
      ['file:', 'file:///etc/passwd'],
      ['gopher:', 'gopher://127.0.0.1:70/_stats'],
      ['ftp:', 'ftp://example.com/x'],
      ['javascript:', 'javascript:alert(1)'],
      ['not a URL', 'not a url'],
      ['a relative URL', '/relative/path'],
      ['a URL over 2048 characters', `https://example.com/${'a'.repeat(2030)}`],
    ])('answers 422 VALIDATION_ERROR for %s, on both routes', async (_name, url) => {
      expectError(await preview(t, user, url), 422, 'VALIDATION_ERROR');
      expectError(await t.http().get('/api/link-preview/proxy').query({ url }).set(user.auth), 422, 'VALIDATION_ERROR');
    });

    it('answers 422 without a url, or with two', async () => {
      expectError(await t.http().get('/api/link-preview').set(user.auth), 422, 'VALIDATION_ERROR');
      expectError(await t.http().get(`/api/link-preview?url=${encodeURIComponent(site.origin)}&url=x`).set(user.auth), 422, 'VALIDATION_ERROR');
    });

    it('needs a session on both routes (401)', async () => {
      expectError(await t.http().get('/api/link-preview').query({ url: 'https://example.com/' }), 401, 'UNAUTHORIZED');
      expectError(await t.http().get('/api/link-preview/proxy').query({ url: 'https://example.com/a.png' }), 401, 'UNAUTHORIZED');
    });
  });

  describe('with the local server in OUTBOUND_ALLOW_HOSTS', () => {
    let t: TestApp;
    let user: TestUser;
    beforeAll(async () => {
      t = await createTestApp({ env: { OUTBOUND_ALLOW_HOSTS: `127.0.0.1:${site.port},127.0.0.1:${closedPort}` } });
      user = await signUp(t);
    });
    afterAll(() => t.close());
    beforeEach(() => {
      site.requests.length = 0;
      other.requests.length = 0;
    });

    it('reads Open Graph tags, resolving the image against the page', async () => {
      const res = await preview(t, user, `${site.origin}/og`).expect(200);
      expect(res.body).toEqual({
        success: true,
        data: {
          url: `${site.origin}/og`,
          title: 'Open Graph title',
          description: 'Open Graph description',
          image: `${site.origin}/images/cover.jpg`,
          siteName: 'Local Site',
        },
      });
    });

    it('reads Twitter card tags when there is no Open Graph', async () => {
      const res = await preview(t, user, `${site.origin}/twitter`).expect(200);
      expect(res.body.data).toEqual({ url: `${site.origin}/twitter`, title: 'Twitter title', description: 'Twitter description', image: 'https://cdn.example/card.png', siteName: null });
    });

    it('falls back to <title>, and gives nulls for a page without tags', async () => {
      expect((await preview(t, user, `${site.origin}/title`).expect(200)).body.data).toEqual({ url: `${site.origin}/title`, ...NULLS, title: 'Only a <title>' });
      expect((await preview(t, user, `${site.origin}/empty`).expect(200)).body.data).toEqual({ url: `${site.origin}/empty`, ...NULLS });
    });

    it('serves a second ask from the cache, without fetching again, whoever asks', async () => {
      const url = `${site.origin}/og?cached=1`;
      const first = (await preview(t, user, url).expect(200)).body.data;
      const someoneElse = await signUp(t);
      const second = (await preview(t, someoneElse, `${url}#fragment`).expect(200)).body.data;
      expect(first.title).toBe('Open Graph title');
      expect(second).toEqual({ ...first, url: `${url}#fragment` });
      expect(site.hits('/og?cached=1')).toBe(1);
    });

    it('reads at most 1 MB of HTML and closes the connection', async () => {
      const res = await preview(t, user, `${site.origin}/huge`).expect(200);
      expect(res.body.data).toEqual({ url: `${site.origin}/huge`, ...NULLS, title: 'Huge page' });
      await eventually(async () => expect(site.cutOff).toContain('/huge'));
    });

    it('gives up on a page that does not answer within 5 s, with four nulls', async () => {
      const res = await preview(t, user, `${site.origin}/slow`).expect(200);
      expect(res.body.data).toEqual({ url: `${site.origin}/slow`, ...NULLS });
      expect(site.hits('/slow')).toBe(1);
    }, 30_000);

    it('follows up to 5 redirects, and gives nulls past that', async () => {
      expect((await preview(t, user, `${site.origin}/r/5`).expect(200)).body.data.title).toBe('Open Graph title');
      expect((await preview(t, user, `${site.origin}/r/6`).expect(200)).body.data).toEqual({ url: `${site.origin}/r/6`, ...NULLS });
      expect(site.hits('/og')).toBe(1);
      expect(site.hits('/r/1')).toBe(2);
    });

    it.each([
      ['loopback, where another test server listens', 'http://127.0.0.1:OTHER/image.png', 'ADDRESS'],
      ['a host name resolving to loopback, where another test server listens', 'http://localhost:OTHER/image.png', 'ADDRESS'],
      ['the allowed server under a loopback name of its own', 'http://localhost:SITE/image.png', 'ADDRESS'],
      ['loopback on the default port', 'http://127.0.0.1/image.png', 'ADDRESS'],
      ['IPv6 loopback', 'http://[::1]/image.png', 'ADDRESS'],
      ['the cloud metadata address', 'http://169.254.169.254/latest/meta-data/', 'ADDRESS'],
      ['a private address', 'http://10.0.0.1/image.png', 'ADDRESS'],
      ['a file: URL', 'file:///etc/passwd', 'SCHEME'],
      ['a gopher: URL', 'gopher://127.0.0.1:70/_stats', 'SCHEME'],
    ])('refuses a redirect from the allowed host to %s: 403 OUTBOUND_REFUSED on the proxy, four nulls as a preview', async (_name, template, reason) => {
      const path = `/redirect?to=${encodeURIComponent(withPorts(template))}`;
      const url = `${site.origin}${path}`;
      await expectRefused(t, user, url, reason);
      expect((await preview(t, user, url).expect(200)).body.data).toEqual({ url, ...NULLS });
      // The allowed host was asked (once per route); where it pointed never was.
      expect(site.requests).toEqual([path, path]);
      expect(other.requests).toEqual([]);
    });

    it('gives nulls for an error status', async () => {
      expect((await preview(t, user, `${site.origin}/missing`).expect(200)).body.data).toEqual({ url: `${site.origin}/missing`, ...NULLS });
    });

    it('still refuses other loopback ports and names: the allowance is for that exact host:port', async () => {
      for (const url of [`http://localhost:${site.port}/og`, `http://127.0.0.2:${site.port}/og`, `http://[::1]:${site.port}/og`, `http://127.0.0.1:${other.port}/og`]) {
        expect((await preview(t, user, url).expect(200)).body.data).toEqual({ url, ...NULLS });
        await expectRefused(t, user, url.replace('/og', '/image.png'), 'ADDRESS');
      }
      expect(site.requests).toEqual([]);
      expect(other.requests).toEqual([]);
    });

    it('answers a browser that sends only the cookie, as the composer and an <img> do', async () => {
      const res = await t.http().get('/api/link-preview').query({ url: `${site.origin}/twitter?cookie` }).set('Cookie', user.cookie).expect(200);
      expect(res.body.data.title).toBe('Twitter title');
      const image = await t.http().get('/api/link-preview/proxy').query({ url: `${site.origin}/image.png` }).set('Cookie', user.cookie).expect(200);
      expect(image.headers['content-type']).toBe('image/png');
    });

    describe('the image proxy', () => {
      it('streams the image bytes with its type, cacheable by the browser alone, nosniff, and no envelope', async () => {
        const res = await proxy(t, user, `${site.origin}/image.png`).expect(200);
        expect(Buffer.compare(res.body as Buffer, site.png)).toBe(0);
        expect(res.headers).toMatchObject({
          'content-type': 'image/png',
          'content-length': String(site.png.length),
          'cache-control': 'private, max-age=86400',
          'x-content-type-options': 'nosniff',
        });
        expect(res.headers['content-security-policy']).toContain('sandbox');
      });

      it('never lets a shared cache keep an answer that renews the session cookie', async () => {
        // A new session's first request reads it from the database, and the cookie is set again.
        const fresh = await signUp(t);
        const res = await t.http().get('/api/link-preview/proxy').query({ url: `${site.origin}/image.png` }).set('Cookie', fresh.cookie).expect(200);
        expect(([] as string[]).concat(res.headers['set-cookie'] ?? []).some((c) => c.startsWith('h2v_session='))).toBe(true);
        expect(res.headers['cache-control']).toBe('private, max-age=86400');
      });

      it('follows a redirect to the image on the allowed host', async () => {
        expect(Buffer.compare((await proxy(t, user, `${site.origin}/to-image`).expect(200)).body as Buffer, site.png)).toBe(0);
        expect(site.requests).toEqual(['/to-image', '/image.png']);
      });

      it('answers 415 for something that is not an image', async () => {
        expectError(await t.http().get('/api/link-preview/proxy').query({ url: `${site.origin}/page.html` }).set(user.auth), 415, 'UNSUPPORTED_MEDIA_TYPE');
      });

      it('answers 413 for an image that says it is over 5 MB, without reading it', async () => {
        expectError(await t.http().get('/api/link-preview/proxy').query({ url: `${site.origin}/big.png` }).set(user.auth), 413, 'FILE_TOO_LARGE');
        expect(site.hits('/big.png')).toBe(1);
      });

      it('cuts off an image without a length past 5 MB', async () => {
        const answer = await rawProxy(t, user, `${site.origin}/big-chunked.png`);
        // The upstream sends 8 MB; the browser gets at most 5 MB of it and a broken response.
        expect(answer.status).toBe(200);
        expect(answer.received).toBeLessThanOrEqual(5 * MB);
        expect(answer.complete).toBe(false);
      });

      it('unpacks an image the upstream sent encoded, and counts the 5 MB after unpacking', async () => {
        const res = await proxy(t, user, `${site.origin}/gzipped.png`).expect(200);
        expect(res.headers['content-encoding']).toBeUndefined();
        expect(Buffer.compare(res.body as Buffer, site.png)).toBe(0);
        const answer = await rawProxy(t, user, `${site.origin}/gzip-bomb.png`);
        // Node's client does not unpack: a passed-through Content-Encoding would have shown ~30 KB here, complete.
        expect(answer.status).toBe(200);
        expect(answer.received).toBeLessThanOrEqual(5 * MB);
        expect(answer.received).toBeGreaterThan(MB);
        expect(answer.complete).toBe(false);
      });

      it('answers 502 for an upstream error status', async () => {
        expectError(await t.http().get('/api/link-preview/proxy').query({ url: `${site.origin}/missing.png` }).set(user.auth), 502, 'UPSTREAM_UNAVAILABLE');
      });

      it('answers 502, not a refusal, when an allowed address does not accept the connection', async () => {
        expectError(await t.http().get('/api/link-preview/proxy').query({ url: `http://127.0.0.1:${closedPort}/x.png` }).set(user.auth), 502, 'UPSTREAM_UNAVAILABLE');
      });
    });

    it('fetches nothing when a message carries a link: previews are made only when a client asks', async () => {
      const friend = await signUp(t);
      const chatId = await openDirect(t, user, friend);
      const ws = await connect(t, user);
      try {
        await send(ws, chatId, `look: ${site.origin}/og?from-message and ${site.origin}/image.png`);
      } finally {
        ws.close();
      }
      await t.drainJobs();
      expect(site.requests).toEqual([]);
    });

    it('allows 60 previews a minute per user, then 429 RATE_LIMIT with retryAfter', async () => {
      const busy = await signUp(t);
      for (let i = 0; i < 60; i++) await preview(t, busy, `${site.origin}/title`).expect(200);
      const res = await preview(t, busy, `${site.origin}/title`);
      expectError(res, 429, 'RATE_LIMIT');
      expect(res.body.retryAfter).toEqual(expect.any(Number));
      // Another user has a budget of their own.
      await preview(t, user, `${site.origin}/title`).expect(200);
    });
  });

  (TEST_REDIS_URL ? describe : describe.skip)('two instances', () => {
    let backend: TestBackend;
    let one: TestApp;
    let two: TestApp;
    beforeAll(async () => {
      backend = await createBackend();
      const env = { OUTBOUND_ALLOW_HOSTS: `127.0.0.1:${site.port}` };
      one = await createTestApp({ backend, env });
      two = await createTestApp({ backend, env });
    });
    afterAll(async () => {
      await two?.close();
      await one?.close();
      await backend?.close();
    });

    it('share the preview cache through Redis', async () => {
      site.requests.length = 0;
      const user = await signUp(one);
      const url = `${site.origin}/og?shared`;
      const first = (await preview(one, user, url).expect(200)).body.data;
      const second = (await preview(two, user, url).expect(200)).body.data;
      expect(second).toEqual(first);
      expect(first.title).toBe('Open Graph title');
      expect(site.hits('/og?shared')).toBe(1);
    });
  });
});
