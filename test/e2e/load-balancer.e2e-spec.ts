import { ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { AddressInfo, createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import request from 'supertest';
import WebSocket from 'ws';
import { eventually, signUp } from '../support/factories';
import { createTestApp, TestApp } from '../support/test-app';

/** Debian's nginx when installed (.ci/run installs it); without it this file is skipped. */
const NGINX = ['nginx', '/usr/sbin/nginx'].find((bin) => spawnSync(bin, ['-v']).status === 0) ?? null;
const CONFIG = resolve(__dirname, '../../deploy/nginx.conf');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise((done) => server.close(done));
  return port;
}

/**
 * Runs deploy/nginx.conf as docker-compose does, with two local substitutions: it listens on a
 * loopback port instead of 80 and sends to the test app instead of `app:3000`. Everything else
 * (the forwarded headers, the upgrade handling) is the file as shipped.
 */
class Balancer {
  private process: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'h2v-nginx-'));
  private stderr = '';
  url = '';

  async start(upstream: string): Promise<this> {
    const port = await freePort();
    const config = readFileSync(CONFIG, 'utf8');
    const local = config
      .replace('listen 80;', `listen 127.0.0.1:${port};`)
      .replace('http://app:3000', upstream)
      .replace('pid /tmp/nginx.pid;', `pid ${join(this.dir, 'nginx.pid')};`)
      .replace('access_log /dev/stdout;', 'access_log off;');
    for (const changed of [`127.0.0.1:${port}`, upstream, this.dir]) if (!local.includes(changed)) throw new Error(`deploy/nginx.conf no longer has the line this test rewrites for ${changed}`);
    const file = join(this.dir, 'nginx.conf');
    writeFileSync(file, local);
    this.process = spawn(NGINX!, ['-c', file, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.process.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.url = `http://127.0.0.1:${port}`;
    await eventually(async () => {
      if (this.process!.exitCode !== null) throw new Error(`nginx exited: ${this.stderr}`);
      await new Promise<void>((ok, fail) => {
        const socket = new Socket().once('error', fail);
        socket.connect(port, '127.0.0.1', () => (socket.destroy(), ok()));
      });
    });
    return this;
  }

  /** The files nginx's workers hold open that are deleted already: its temporary files of buffered responses. */
  deletedFilesHeld(): string[] {
    const master = String(this.process!.pid);
    const workers = readdirSync('/proc').filter((pid) => /^\d+$/.test(pid) && readIfThere(`/proc/${pid}/stat`)?.split(') ')[1]?.split(' ')[1] === master);
    return workers.flatMap((pid) =>
      (readdirIfThere(`/proc/${pid}/fd`) ?? []).map((fd) => readlinkIfThere(`/proc/${pid}/fd/${fd}`) ?? '').filter((target) => target.endsWith('(deleted)')),
    );
  }

  async stop(): Promise<void> {
    const child = this.process;
    if (child && child.exitCode === null) {
      const exited = new Promise((done) => child.once('exit', done));
      // Fast shutdown: a graceful one (SIGQUIT) would wait for the proxied sockets to end.
      child.kill('SIGTERM');
      const stuck = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(stuck);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A /proc entry of a process that may have gone meanwhile. */
const readIfThere = (path: string): string | null => orNull(() => readFileSync(path, 'utf8'));
const readdirIfThere = (path: string): string[] | null => orNull(() => readdirSync(path));
const readlinkIfThere = (path: string): string | null => orNull(() => readlinkSync(path));
function orNull<T>(read: () => T): T | null {
  try {
    return read();
  } catch {
    return null;
  }
}

(NGINX && existsSync(CONFIG) ? describe : describe.skip)('the compose load balancer (deploy/nginx.conf) in front of an app with TRUST_PROXY=1', () => {
  let t: TestApp;
  let balancer: Balancer;
  /** The same backend reached through the balancer, as a browser of the deployment would. */
  let viaBalancer: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ env: { TRUST_PROXY: '1' } });
    balancer = await new Balancer().start(t.url);
    viaBalancer = { ...t, url: balancer.url, wsUrl: `${balancer.url.replace('http', 'ws')}/ws`, http: () => request(balancer.url) };
  });
  afterAll(async () => {
    await balancer?.stop();
    await t?.close();
  });

  const sessionIp = async (userId: string) => (await t.backend.sql('SELECT ip FROM sessions WHERE user_id = $1', [userId]))[0].ip;

  it('sets X-Forwarded-For from the connection, so a forged one reaches no rate limit or session', async () => {
    const forged = { 'X-Forwarded-For': '203.0.113.7' };
    const proxied = await signUp({ ...viaBalancer, http: () => request.agent(balancer.url).set(forged) } as TestApp);
    expect(await sessionIp(proxied.id)).toBe('127.0.0.1');
    // The same header sent straight to the app is believed: why compose publishes only the balancer.
    const direct = await signUp({ ...t, http: () => request.agent(t.url).set(forged) } as TestApp);
    expect(await sessionIp(direct.id)).toBe('203.0.113.7');
  });

  it("passes the browser's origin on: a same-origin POST works, the app's own address is foreign", async () => {
    const [user, a, b] = [await signUp(viaBalancer), await signUp(viaBalancer), await signUp(viaBalancer)];
    await viaBalancer.http().post(`/api/users/${a.id}/block`).set(user.browser).set('Origin', balancer.url).expect(200);
    const refused = await viaBalancer.http().post(`/api/users/${b.id}/block`).set(user.browser).set('Origin', t.url).expect(403);
    expect(refused.body.code).toBe('ORIGIN_NOT_ALLOWED');
    expect(await t.backend.sql('SELECT blocked_id FROM blocks WHERE blocker_id = $1', [user.id])).toEqual([{ blocked_id: a.id }]);
  });

  it('passes WebSocket upgrades from its own origin and relays the refusal of a foreign one', async () => {
    const user = await signUp(viaBalancer);
    const socket = new WebSocket(viaBalancer.wsUrl, { headers: { Cookie: user.cookie, Origin: balancer.url } });
    const first = await new Promise<{ event: string; payload: { userId: string } }>((done, fail) => {
      socket.once('message', (data) => done(JSON.parse(data.toString())));
      socket.once('error', fail);
    });
    expect(first).toMatchObject({ event: 'auth:ok', payload: { userId: user.id } });
    socket.close();

    const foreign = new WebSocket(viaBalancer.wsUrl, { headers: { Cookie: user.cookie, Origin: 'https://evil.example' } });
    const status = await new Promise<number>((done, fail) => {
      foreign.once('unexpected-response', (req, res: IncomingMessage) => (req.destroy(), done(res.statusCode ?? 0)));
      foreign.once('open', () => fail(new Error('a foreign origin got a socket')));
    });
    expect(status).toBe(403);
  });

  it("keeps a slow reader's download off the balancer's disk: nginx passes the slowness back to the app", async () => {
    const user = await signUp(viaBalancer);
    const size = 40 * 1024 * 1024;
    const { url } = (await t.http().post('/api/upload/encrypted').set(user.auth).attach('file', randomBytes(size), 'big.enc').expect(201)).body.data;
    // A client that asks for the file and reads nothing more than the first bytes.
    const slow = new Socket();
    const started = new Promise<void>((done) => slow.once('data', () => (slow.pause(), done())));
    slow.connect(Number(new URL(balancer.url).port), '127.0.0.1', () => slow.write(`GET ${url} HTTP/1.1\r\nHost: ${new URL(balancer.url).host}\r\n\r\n`));
    await started;
    // The same file read whole at full speed meanwhile: by its end, nginx buffering responses would
    // have read the slow one's whole file from the app too, into a temporary file.
    const whole = await request(balancer.url).get(url).buffer(true).parse((res, done) => {
      let length = 0;
      res.on('data', (chunk: Buffer) => (length += chunk.length));
      res.on('end', () => done(null, length));
    });
    expect([whole.status, whole.body]).toEqual([200, size]);
    expect(balancer.deletedFilesHeld()).toEqual([]);
    slow.destroy();
  });
});
