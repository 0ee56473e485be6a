/**
 * Upload benchmark: 1 MB JPEG uploads per second and upload-to-thumbnail latency (p50/p99).
 * Starts the built server (`dist/src/main.js`) as a child process and drives it over HTTP:
 *   1. workers in the API process (embedded PGlite + in-process queue when REDIS_URL is unset,
 *      else Postgres + BullMQ);
 *   2. with DATABASE_URL and REDIS_URL: API with WORKERS=off plus `node dist/src/worker.js`.
 * Run: `npm run bench:upload` (optionally with DATABASE_URL=postgres://… REDIS_URL=redis://…).
 * Knobs: BENCH_UPLOADS (default 120), BENCH_CONCURRENCY (8), BENCH_LATENCY_SAMPLES (40).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import sharp from 'sharp';
import { LoggedServer } from './lib/logged-server';
import { withScratchDatabase } from './lib/services';

const UPLOADS = Number(process.env.BENCH_UPLOADS ?? 120);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 8);
const LATENCY_SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES ?? 40);
const LATENCY_CONCURRENCY = 2;
const POLL_MS = 10;

interface Mode {
  name: string;
  env: Record<string, string>;
  separateWorker: boolean;
}

interface Result {
  mode: string;
  uploadsPerSecond: number;
  variantsPerSecond: number;
  p50: number;
  p99: number;
}

/** A photo-like 1 MB JPEG: smooth gradients plus grain, at the quality that lands nearest 1 MB. */
async function photo(targetBytes = 1024 * 1024): Promise<Buffer> {
  const [width, height] = [2400, 1600];
  const raw = Buffer.alloc(width * height * 3);
  let seed = 42;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const grain = (seed >>> 24) % 24;
      const i = (y * width + x) * 3;
      raw[i] = (x * 255) / width + grain;
      raw[i + 1] = (y * 255) / height + grain;
      raw[i + 2] = 128 + 100 * Math.sin(x / 90) * Math.cos(y / 70) + grain;
    }
  }
  let best: Buffer | null = null;
  for (let quality = 40; quality <= 95; quality += 5) {
    const jpeg = await sharp(raw, { raw: { width, height, channels: 3 } }).jpeg({ quality }).toBuffer();
    if (!best || Math.abs(jpeg.length - targetBytes) < Math.abs(best.length - targetBytes)) best = jpeg;
  }
  return best!;
}

async function signUp(server: LoggedServer): Promise<string> {
  const email = `bench.${Date.now()}@example.com`;
  const post = (path: string, body: object) => fetch(`${server.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  await post('/api/auth/send-otp', { email });
  const code = await server.otp(email);
  await post('/api/auth/verify-otp', { email, code });
  const res = await post('/api/auth/verify-otp', { email, code, nickname: `bench${Date.now().toString(36)}` });
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith('h2v_session='));
  if (!cookie) throw new Error(`sign-up failed: ${res.status} ${await res.text()}`);
  return decodeURIComponent(cookie.split(';')[0].slice('h2v_session='.length));
}

async function upload(server: LoggedServer, token: string, jpeg: Buffer): Promise<{ thumbUrl: string }> {
  const form = new FormData();
  form.append('file', new Blob([jpeg], { type: 'image/jpeg' }), 'photo.jpg');
  const res = await fetch(`${server.url}/api/upload`, { method: 'POST', headers: { Authorization: `Bearer ${token}` }, body: form });
  if (res.status !== 201) throw new Error(`upload answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { data: { thumbUrl: string } }).data;
}

async function thumbReady(server: LoggedServer, thumbUrl: string): Promise<boolean> {
  const res = await fetch(`${server.url}${thumbUrl}`, { method: 'HEAD' });
  return res.headers.get('content-type') === 'image/webp';
}

async function pool<T>(count: number, concurrency: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const index = next++;
        results[index] = await task(index);
      }
    }),
  );
  return results;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

async function measure(mode: Mode, jpeg: Buffer, port: number): Promise<Result> {
  const server = new LoggedServer({ ...(process.env as Record<string, string>), ...mode.env }, port);
  server.start('main.js', mode.separateWorker ? { WORKERS: 'off' } : {});
  if (mode.separateWorker) server.start('worker.js');
  try {
    await server.ready();
    const token = await signUp(server);
    await pool(4, 4, () => upload(server, token, jpeg)); // warm-up (JIT, sharp, pools)

    // Throughput: uploads as fast as the API takes them; the variants follow in the background.
    const started = performance.now();
    const uploaded = await pool(UPLOADS, CONCURRENCY, () => upload(server, token, jpeg));
    const uploadSeconds = (performance.now() - started) / 1000;
    for (const { thumbUrl } of uploaded) while (!(await thumbReady(server, thumbUrl))) await sleep(50);
    const variantsSeconds = (performance.now() - started) / 1000;

    // Latency: a steady trickle, each upload followed until its thumbnail is served as WebP.
    const latencies = await pool(LATENCY_SAMPLES, LATENCY_CONCURRENCY, async () => {
      const t0 = performance.now();
      const { thumbUrl } = await upload(server, token, jpeg);
      while (!(await thumbReady(server, thumbUrl))) await sleep(POLL_MS);
      return performance.now() - t0;
    });
    latencies.sort((a, b) => a - b);
    return { mode: mode.name, uploadsPerSecond: UPLOADS / uploadSeconds, variantsPerSecond: UPLOADS / variantsSeconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
  } finally {
    await server.stop();
  }
}

async function main(): Promise<void> {
  const jpeg = await photo();
  const meta = await sharp(jpeg).metadata();
  console.log(`input: ${(jpeg.length / 1024).toFixed(0)} KiB JPEG ${meta.width}×${meta.height}; ${UPLOADS} uploads at concurrency ${CONCURRENCY}; ${LATENCY_SAMPLES} latency samples at concurrency ${LATENCY_CONCURRENCY}`);
  const dataDir = mkdtempSync(join(tmpdir(), 'h2v-bench-'));
  // APP_SECRET: the pg+redis runs' API and worker must share one (the embedded run would make its own).
  const base: Record<string, string> = { NODE_ENV: 'development', LOG_LEVEL: 'warn', APP_SECRET: randomBytes(32).toString('base64url'), RATE_LIMIT_API: '1000000/60', RATE_LIMIT_AUTH: '1000000/60', UPLOAD_DAILY_MB: '10000000', DATA_DIR: dataDir, SMTP_URL: '', DATABASE_URL: '', REDIS_URL: '' };
  const { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl } = process.env;
  const results: Result[] = [];
  try {
    if (!databaseUrl || !redisUrl) {
      results.push(await measure({ name: 'embedded, workers in-process', env: base, separateWorker: false }, jpeg, 39_871));
      console.log('(set DATABASE_URL and REDIS_URL to also measure Postgres + BullMQ and a separate worker process)');
    } else {
      const redis = { REDIS_URL: redisUrl, REDIS_PREFIX: `bench_${process.pid}` };
      results.push(await withScratchDatabase(databaseUrl, 'upload', (url) => measure({ name: 'pg+redis, workers in-process', env: { ...base, ...redis, DATABASE_URL: url }, separateWorker: false }, jpeg, 39_872)));
      results.push(await withScratchDatabase(databaseUrl, 'upload', (url) => measure({ name: 'pg+redis, separate worker', env: { ...base, ...redis, DATABASE_URL: url, REDIS_PREFIX: `bench2_${process.pid}` }, separateWorker: true }, jpeg, 39_873)));
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
  console.table(
    results.map((r) => ({
      mode: r.mode,
      'uploads/s': r.uploadsPerSecond.toFixed(1),
      'variants done/s': r.variantsPerSecond.toFixed(1),
      'thumb p50 ms': r.p50.toFixed(0),
      'thumb p99 ms': r.p99.toFixed(0),
    })),
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
