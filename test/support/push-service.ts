import { createECDH, createPublicKey, ECDH, randomBytes, verify } from 'node:crypto';
import { createServer, Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { generate } from 'selfsigned';

// http_ece ships no types; the one call the tests make.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const ece = require('http_ece') as { decrypt(body: Buffer, params: { version: 'aes128gcm'; privateKey: ECDH; authSecret: string }): Buffer };

/** A request the push service received. */
export interface ReceivedPush {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** The status it was answered with. */
  status: number;
}

/** A browser's side of a subscription: the keys it holds, and what it decrypts. */
export interface PushDevice {
  /** The JSON string the web client registers as its WEB token. */
  token: string;
  endpoint: string;
  path: string;
  /** The notifications sent to this device, decrypted (aes128gcm, RFC 8291), in arrival order. */
  payloads(): any[];
  received(): ReceivedPush[];
}

/**
 * A Web Push service on 127.0.0.1 over HTTPS, with a self-signed certificate made for the run
 * (`caPem`; the server under test must trust it). It records every notification, answers 201
 * unless told otherwise for a path (always, or for the next few), and can hold its answers until released.
 */
export class FakePushService {
  readonly requests: ReceivedPush[] = [];
  /** Per path, the answers to give before the default 201, in order; `left` counts down (Infinity: from now on). */
  private readonly answers = new Map<string, Array<{ status: number; left: number; headers: Record<string, string> }>>();
  private readonly keys = new Map<string, { ecdh: ECDH; auth: string }>();
  private held: { paths: Set<string>; waiting: Array<{ path: string; answer: () => void }> } | null = null;
  private readonly waiters: Array<() => void> = [];

  private constructor(
    private readonly server: Server,
    readonly caPem: string,
    readonly port: number,
  ) {}

  static async start(): Promise<FakePushService> {
    const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
      keyType: 'ec',
      algorithm: 'sha256',
      extensions: [
        { name: 'basicConstraints', cA: true },
        { name: 'keyUsage', digitalSignature: true, keyCertSign: true },
        { name: 'extKeyUsage', serverAuth: true },
        { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] },
      ],
    });
    let service!: FakePushService;
    const server = createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const path = req.url ?? '';
        const answer = () => {
          const { status, headers } = service.nextAnswer(path);
          service.requests.push({ path, headers: req.headers, body: Buffer.concat(chunks), status });
          res.writeHead(status, headers).end();
          for (const wake of service.waiters.splice(0)) wake();
        };
        if (service.held?.paths.has(path)) {
          // Recorded at once (the test waits for it), answered on release.
          service.held.waiting.push({ path, answer });
          for (const wake of service.waiters.splice(0)) wake();
        } else answer();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    service = new FakePushService(server, pems.cert, (server.address() as AddressInfo).port);
    return service;
  }

  /** `host:port` for OUTBOUND_ALLOW_HOSTS. */
  get hostPort(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** A new subscription: its own endpoint path and keys (a P-256 pair and a 16-byte auth secret, as a browser makes them). */
  device(): PushDevice {
    const path = `/push/${randomBytes(12).toString('hex')}`;
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    const auth = randomBytes(16).toString('base64url');
    this.keys.set(path, { ecdh, auth });
    const endpoint = `https://${this.hostPort}${path}`;
    const token = JSON.stringify({ endpoint, expirationTime: null, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth } });
    const received = () => this.requests.filter((r) => r.path === path);
    return { token, endpoint, path, received, payloads: () => received().map((r) => this.decrypt(r)) };
  }

  /**
   * Answers this device's notifications with `status` (and `headers`) from now on, or for the
   * next `times` of them; answers set up earlier are given first.
   */
  respond(device: PushDevice, status: number, options: { times?: number; headers?: Record<string, string> } = {}): void {
    const queue = this.answers.get(device.path) ?? [];
    queue.push({ status, left: options.times ?? Infinity, headers: options.headers ?? {} });
    this.answers.set(device.path, queue);
  }

  private nextAnswer(path: string): { status: number; headers: Record<string, string> } {
    const queue = this.answers.get(path);
    const answer = queue?.[0];
    if (!answer) return { status: 201, headers: {} };
    if (--answer.left <= 0) queue.shift();
    return answer;
  }

  /** Holds the answers to this device until the returned function is called. */
  hold(device: PushDevice): () => void {
    const held = (this.held ??= { paths: new Set(), waiting: [] });
    held.paths.add(device.path);
    return () => {
      held.paths.delete(device.path);
      const answers = held.waiting.filter((w) => w.path === device.path);
      held.waiting = held.waiting.filter((w) => w.path !== device.path);
      for (const { answer } of answers) answer();
    };
  }

  /** Notifications to this device that arrived and wait, unanswered, for its release. */
  heldCount(device: PushDevice): number {
    return this.held?.waiting.filter((w) => w.path === device.path).length ?? 0;
  }

  /** Resolves when `count` notifications (answered or held) reached the device. */
  async waitFor(device: PushDevice, count = 1, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const seen = () => device.received().length + this.heldCount(device);
    while (seen() < count) {
      if (Date.now() > deadline) throw new Error(`${device.path}: ${seen()} of ${count} notifications within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  }

  /** Decrypts a notification with the device's private key and auth secret, as the browser does. */
  decrypt(push: ReceivedPush): any {
    const keys = this.keys.get(push.path);
    if (!keys) throw new Error(`no device at ${push.path}`);
    return JSON.parse(ece.decrypt(push.body, { version: 'aes128gcm', privateKey: keys.ecdh, authSecret: keys.auth }).toString('utf8'));
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * Checks a notification's VAPID authorization (RFC 8292): `vapid t=<JWT>, k=<key>` with `k` the
 * server's public key, an ES256 signature by it, the endpoint's origin as audience, an expiry
 * within a day and a subject.
 */
export function vapidClaims(push: ReceivedPush, publicKey: string): { aud: string; exp: number; sub: string } {
  const match = /^vapid t=([^,\s]+),\s*k=(\S+)$/.exec(String(push.headers.authorization));
  if (!match) throw new Error(`not a VAPID authorization: ${push.headers.authorization}`);
  const [, jwt, k] = match;
  if (k !== publicKey) throw new Error('VAPID key is not the server key');
  const [header, claims, signature] = jwt.split('.');
  const raw = Buffer.from(publicKey, 'base64url');
  const key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: raw.subarray(1, 33).toString('base64url'), y: raw.subarray(33).toString('base64url') }, format: 'jwk' });
  const valid = verify('sha256', Buffer.from(`${header}.${claims}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'));
  if (!valid) throw new Error('VAPID signature does not verify');
  return JSON.parse(Buffer.from(claims, 'base64url').toString('utf8'));
}
