/**
 * Web Push fan-out benchmark: notifications per second the `push` workers deliver to a push
 * service on this machine. Starts the built server (`dist/src/main.js`) as a child process that
 * trusts the fake push service's certificate through NODE_EXTRA_CA_CERTS and reaches it through
 * OUTBOUND_ALLOW_HOSTS, the way production reaches a private relay:
 *   embedded (PGlite + in-process queue) when DATABASE_URL/REDIS_URL are unset, else Postgres + BullMQ.
 * A group of BENCH_PUSH_MEMBERS (default 199) offline members, each with a WEB subscription,
 * receives BENCH_PUSH_ROUNDS (default 10) messages; each message is sent once the previous one's
 * notifications have all arrived, so every message fans out to every member (no coalescing).
 * Prints a table and writes bench/results/<ISO date>-push.json (figures, per-message times, the
 * machine and its load average at the start and the end).
 * Run: `npm run bench:push`.
 */
import { createECDH, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { generate } from 'selfsigned';
import { generateVAPIDKeys } from 'web-push';
import WebSocket from 'ws';
import { LoggedServer } from './lib/logged-server';
import { withScratchDatabase } from './lib/services';

const MEMBERS = Number(process.env.BENCH_PUSH_MEMBERS ?? 199);
const ROUNDS = Number(process.env.BENCH_PUSH_ROUNDS ?? 10);
const PORT = 39_881;
const ROOT = resolve(__dirname, '..', '..');

/** An HTTPS push service that answers 201 and counts what reaches each endpoint path. */
async function fakePushService(): Promise<{ port: number; ca: string; received: () => number; close: () => void }> {
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true },
      { name: 'keyUsage', digitalSignature: true, keyCertSign: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] },
    ],
  });
  let received = 0;
  const server = createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.writeHead(201).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    ca: pems.cert,
    received: () => received,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

interface User {
  id: string;
  token: string;
}

async function call(server: LoggedServer, method: string, path: string, body: unknown, token?: string): Promise<any> {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as { data?: unknown };
  if (!res.ok && !(path === '/api/auth/verify-otp' && res.status === 422)) throw new Error(`${method} ${path} answered ${res.status}: ${JSON.stringify(json)}`);
  return { status: res.status, data: json.data, headers: res.headers };
}

async function signUp(server: LoggedServer, n: number): Promise<User> {
  const email = `push.bench.${n}.${Date.now().toString(36)}@example.com`;
  await call(server, 'POST', '/api/auth/send-otp', { email });
  const code = await server.otp(email);
  await call(server, 'POST', '/api/auth/verify-otp', { email, code });
  const res = await call(server, 'POST', '/api/auth/verify-otp', { email, code, nickname: `pb${n}${randomBytes(3).toString('hex')}` });
  const cookie = (res.headers as Headers).getSetCookie().find((c) => c.startsWith('h2v_session='))!;
  return { id: res.data.user.id, token: decodeURIComponent(cookie.split(';')[0].slice('h2v_session='.length)) };
}

async function pool<T>(count: number, concurrency: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < count) {
      const index = next++;
      results[index] = await task(index);
    }
  }));
  return results;
}

function subscription(pushPort: number): string {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  return JSON.stringify({
    endpoint: `https://127.0.0.1:${pushPort}/push/${randomBytes(8).toString('hex')}`,
    expirationTime: null,
    keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: randomBytes(16).toString('base64url') },
  });
}

async function measure(name: string, env: Record<string, string>): Promise<{ mode: string; pushes: number; seconds: number; perMessageMs: number[] }> {
  const push = await fakePushService();
  const dataDir = env.DATA_DIR;
  const caFile = join(dataDir, 'push-ca.pem');
  writeFileSync(caFile, push.ca);
  const server = new LoggedServer({ ...env, NODE_EXTRA_CA_CERTS: caFile, OUTBOUND_ALLOW_HOSTS: `127.0.0.1:${push.port}` }, PORT, env.DATA_DIR);
  server.start();
  try {
    await server.ready();
    const [sender, ...members] = await pool(MEMBERS + 1, 8, (n) => signUp(server, n));
    await pool(members.length, 8, (i) => call(server, 'POST', '/api/users/me/device-token', { token: subscription(push.port), platform: 'WEB' }, members[i].token));
    const group = await call(server, 'POST', '/api/chats/group', { name: 'push bench', memberIds: members.map((m) => m.id) }, sender.token);
    const ws = new WebSocket(`${server.url.replace('http', 'ws')}/ws`, { headers: { Cookie: `h2v_session=${sender.token}` } });
    const authenticated = new Promise<void>((resolve, reject) => {
      ws.on('message', (data) => JSON.parse(data.toString()).event === 'auth:ok' && resolve());
      ws.once('error', reject);
    });
    await authenticated;

    const sendAndWait = async (round: number): Promise<number> => {
      const before = push.received();
      const t0 = performance.now();
      ws.send(JSON.stringify({ event: 'message:send', payload: { chatId: group.data.id, text: `round ${round}`, clientMessageId: randomBytes(8).toString('hex') } }));
      while (push.received() < before + members.length) {
        if (performance.now() - t0 > 120_000) throw new Error(`round ${round}: ${push.received() - before} of ${members.length} notifications in 120 s`);
        await sleep(2);
      }
      return performance.now() - t0;
    };
    await sendAndWait(0); // warm-up: JIT, TLS sessions, pools
    const started = performance.now();
    const perMessageMs: number[] = [];
    for (let round = 1; round <= ROUNDS; round++) perMessageMs.push(await sendAndWait(round));
    const seconds = (performance.now() - started) / 1000;
    ws.close();
    return { mode: name, pushes: ROUNDS * members.length, seconds, perMessageMs };
  } finally {
    await server.stop();
    push.close();
  }
}

async function main(): Promise<void> {
  const loadAtStart = loadavg();
  console.log(`${MEMBERS} offline members with a WEB subscription each; ${ROUNDS} messages, each sent once the previous one's notifications all arrived`);
  const dataDir = mkdtempSync(join(tmpdir(), 'h2v-bench-push-'));
  const base: Record<string, string> = {
    NODE_ENV: 'development',
    LOG_LEVEL: 'warn',
    DATA_DIR: dataDir,
    // Required with DATABASE_URL and REDIS_URL (the pg+redis run).
    APP_SECRET: randomBytes(32).toString('base64url'),
    RATE_LIMIT_API: '1000000/60',
    RATE_LIMIT_AUTH: '1000000/60',
    RATE_LIMIT_AUTH_IP: '1000000/60',
    OTP_SEND_LIMIT: '1000000/60',
  };
  const results = [];
  try {
    const { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl } = process.env;
    if (!databaseUrl || !redisUrl) {
      results.push(await measure('embedded, in-process queue', base));
      console.log('(set DATABASE_URL and REDIS_URL to measure Postgres + BullMQ)');
    } else {
      const keys = generateVAPIDKeys();
      results.push(
        await withScratchDatabase(databaseUrl, 'push', (url) =>
          measure('pg+redis, BullMQ workers in-process', { ...base, DATABASE_URL: url, REDIS_URL: redisUrl, REDIS_PREFIX: `bench_push_${process.pid}`, VAPID_PUBLIC_KEY: keys.publicKey, VAPID_PRIVATE_KEY: keys.privateKey }),
        ),
      );
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  const runs = results.map((r) => {
    const sorted = [...r.perMessageMs].sort((a, b) => a - b);
    return {
      ...r,
      pushesPerSecond: Math.round(r.pushes / r.seconds),
      medianMessageToLastPushMs: Math.round(sorted[Math.floor(sorted.length / 2)]),
      maxMessageToLastPushMs: Math.round(sorted[sorted.length - 1]),
    };
  });
  const finishedAt = new Date();
  const machine = { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, loadAtStart, loadAtEnd: loadavg() };
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${finishedAt.toISOString().replace(/:/g, '-')}-push.json`);
  writeFileSync(file, JSON.stringify({ date: finishedAt.toISOString(), machine, members: MEMBERS, rounds: ROUNDS, runs }, null, 2) + '\n');
  console.table(
    runs.map((r) => ({
      mode: r.mode,
      notifications: r.pushes,
      'pushes/s': r.pushesPerSecond,
      'message → last push, median ms': r.medianMessageToLastPushMs,
      'max ms': r.maxMessageToLastPushMs,
    })),
  );
  console.log(`load average (1/5/15 min): ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} at start, ${machine.loadAtEnd.map((l) => l.toFixed(2)).join(' ')} at the end (${machine.cpus} cores)`);
  console.log(`\nresults: ${file}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
