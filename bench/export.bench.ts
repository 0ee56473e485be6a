/**
 * Export benchmark (wire-contract-v2.2 §14): the server's resident memory and the time while it
 * streams a long history as a download, to show that memory does not grow with the history.
 *
 * `npm run bench:export [-- --messages=100000] [-- --mode=postgres|embedded|both] [-- --keep-db]`
 *
 * Per mode: a fresh database (PostgreSQL: `export_<ms>` on DATABASE_URL, Redis prefix of the same
 * name; embedded: PGlite in a scratch DATA_DIR), two users and a direct chat holding `messages`
 * messages inserted with SQL through the fixture process (the only way into an embedded database,
 * so both modes seed alike), then the built server (`node dist/src/main.js`, production env of
 * benchAppEnv, export limit lifted). Then, each timed from request to last byte while
 * /proc/<pid>/status VmRSS of the server is sampled every 10 ms:
 *   1. `format=html`, read as fast as possible (cold: the first export of the process);
 *   2. `format=json`, read as fast as possible, parsed to check every message is there;
 *   3. `format=json` read by a slow client (256 KiB/s) for 5 s, then dropped.
 * BENCH_NODE_ARGS passes node flags to the server (e.g. `--max-old-space-size=96`).
 * Prints a table, writes bench/results/<ISO date>-export.json. Without DATABASE_URL and REDIS_URL
 * the PostgreSQL mode is skipped (said so), the embedded one still runs.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { newId } from '../src/core/database/ids';
import { Child } from './lib/child';
import { freePort, sleep } from './lib/context';
import { fmt } from './lib/report';
import { runMain, saveResults } from './lib/results';
import { ServerProcess } from './lib/server';
import { benchAppEnv, checkServices, Cleanups, MissingServices, scratchBackend } from './lib/services';
import type { BenchUser } from './fixtures';

const ROOT = resolve(__dirname, '..', '..');
const SAMPLE_MS = 10;
const SEED_BATCH = 25_000;
const SLOW_BYTES_PER_SECOND = 256 * 1024;
const SLOW_SECONDS = 5;
/** Extra node flags for the server under test, e.g. `--max-old-space-size=96` to show the export fits a small heap. */
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);

type Mode = 'postgres' | 'embedded';

interface RunFigures {
  mode: Mode;
  run: string;
  messages: number;
  bytes: number;
  seconds: number;
  rssBeforeMb: number;
  rssPeakMb: number;
  rssAfterMb: number;
  /** RSS 3 s after the download ended. */
  rssSettledMb: number;
  note?: string;
}

const log = (line: string) => console.log(`[export-bench ${new Date().toISOString().slice(11, 19)}] ${line}`);
const mb = (kb: number) => Math.round((kb / 1024) * 10) / 10;

/** Samples the server's RSS until stopped; resolves the peak in KiB. */
function sampleRss(server: ServerProcess): { stop: () => number } {
  let peak = server.rssKb();
  const timer = setInterval(() => (peak = Math.max(peak, server.rssKb())), SAMPLE_MS);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(peak, server.rssKb());
    },
  };
}

/** Reads a download to its end as fast as possible; resolves its bytes, the time to its last byte and, for checking, its text when `keep`. */
async function readAll(url: string, cookie: string, keep: boolean): Promise<{ bytes: number; seconds: number; text: string; disposition: string | null }> {
  const started = process.hrtime.bigint();
  const res = await fetch(url, { headers: { Cookie: cookie } });
  if (res.status !== 200) throw new Error(`export answered ${res.status}: ${await res.text()}`);
  const decoder = new TextDecoder();
  let bytes = 0;
  const parts: string[] = [];
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    bytes += chunk.length;
    if (keep) parts.push(decoder.decode(chunk, { stream: true }));
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return { bytes, seconds, text: parts.join(''), disposition: res.headers.get('content-disposition') };
}

/** Reads a download at `bytesPerSecond` for `seconds`, then drops the connection; resolves the bytes read. */
function readSlowly(url: string, cookie: string, bytesPerSecond: number, seconds: number): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const req = get(url, { headers: { Cookie: cookie } }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`export answered ${res.statusCode}`));
      const started = Date.now();
      let bytes = 0;
      res.on('data', (chunk: Buffer) => {
        bytes += chunk.length;
        const due = started + (bytes / bytesPerSecond) * 1000;
        if (due > Date.now()) {
          res.pause();
          setTimeout(() => res.resume(), due - Date.now());
        }
      });
      setTimeout(() => {
        res.destroy();
        resolvePromise(bytes);
      }, seconds * 1000);
    });
    req.once('error', reject);
  });
}

/** Two users, a direct chat between them and `count` messages in it, alternating senders, inserted in batches through the fixture process. */
async function seed(fixtures: Child, count: number): Promise<{ users: BenchUser[]; chatId: string }> {
  const users = await fixtures.request<BenchUser[]>('users', { prefix: `exp${Date.now().toString(36)}`, count: 2 });
  const [a, b] = users;
  const chatId = newId();
  const [low, high] = [a.id, b.id].sort();
  await fixtures.request('sql', { text: `INSERT INTO chats (id, type, pair_key) VALUES ($1, 'DIRECT', $2)`, params: [chatId, `DIRECT:${low}:${high}`] });
  await fixtures.request('sql', {
    text: `INSERT INTO chat_members (chat_id, user_id, id, role) VALUES ($1, $2, $3, 'MEMBER'), ($1, $4, $5, 'MEMBER')`,
    params: [chatId, a.id, newId(), b.id, newId()],
  });
  for (let from = 1; from <= count; from += SEED_BATCH) {
    const to = Math.min(count, from + SEED_BATCH - 1);
    // Ids are UUIDv7 of one millisecond per message, so id order is sequence order; texts of 10 to 130 characters.
    await fixtures.request('sql', {
      text: `INSERT INTO messages (id, chat_id, sender_id, seq, type, text, created_at, updated_at)
             SELECT (lpad(to_hex((extract(epoch FROM t.at) * 1000)::bigint), 12, '0') || '7' || substr(md5(g::text), 1, 3) || '8' || substr(md5(g::text), 4, 15))::uuid,
                    $1, CASE WHEN g % 2 = 0 THEN $2::uuid ELSE $3::uuid END, g, 'TEXT',
                    'message ' || g || ' ' || repeat('lorem ipsum ', g % 11), t.at, t.at
               FROM generate_series($4::int, $5::int) g, LATERAL (SELECT now() - interval '30 days' + interval '1 ms' * g AS at) t`,
      params: [chatId, a.id, b.id, from, to],
    });
    log(`  seeded ${fmt(to)} / ${fmt(count)} messages`);
  }
  await fixtures.request('sql', {
    text: `UPDATE chats SET message_seq = $2, last_message_id = (SELECT id FROM messages WHERE chat_id = $1 AND seq = $2), last_activity_at = now() WHERE id = $1`,
    params: [chatId, count],
  });
  await fixtures.request('sql', { text: `UPDATE chat_members SET last_read_seq = $2 WHERE chat_id = $1`, params: [chatId, count] });
  return { users, chatId };
}

/** One download with RSS sampled around it, timed from request to last byte (`seconds` when the download times itself, leaving out checks made after it). */
async function measured(
  server: ServerProcess,
  mode: Mode,
  run: string,
  messages: number,
  download: () => Promise<{ bytes: number; seconds?: number; note?: string }>,
): Promise<RunFigures> {
  const before = server.rssKb();
  const sampler = sampleRss(server);
  const started = process.hrtime.bigint();
  const result = await download();
  const { bytes, note } = result;
  const seconds = result.seconds ?? Number(process.hrtime.bigint() - started) / 1e9;
  const peak = sampler.stop();
  const after = server.rssKb();
  await sleep(3_000);
  const figures: RunFigures = {
    mode,
    run,
    messages,
    bytes,
    seconds: Math.round(seconds * 100) / 100,
    rssBeforeMb: mb(before),
    rssPeakMb: mb(peak),
    rssAfterMb: mb(after),
    rssSettledMb: mb(server.rssKb()),
    ...(note ? { note } : {}),
  };
  log(`  ${run}: ${fmt(bytes)} bytes in ${figures.seconds} s; RSS ${figures.rssBeforeMb} → peak ${figures.rssPeakMb} → ${figures.rssAfterMb} (${figures.rssSettledMb} 3 s later) MB`);
  return figures;
}

async function runMode(mode: Mode, messages: number, services: { databaseUrl: string; redisUrl: string } | null, keepDb: boolean, cleanups: Cleanups): Promise<RunFigures[]> {
  const tag = `export_${Date.now()}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'h2v-export-bench-'));
  cleanups.push(async () => rmSync(dataDir, { recursive: true, force: true }));
  const env: Record<string, string> = { ...benchAppEnv(tag), DATA_DIR: dataDir, RATE_LIMIT_EXPORT: '1000000/3600' };
  if (mode === 'postgres') {
    env.DATABASE_URL = await scratchBackend(services!, tag, cleanups, { keepDb, log });
    env.REDIS_URL = services!.redisUrl;
  } else {
    // Empty values read as unset: embedded PGlite in DATA_DIR, in-process everything.
    env.DATABASE_URL = '';
    env.REDIS_URL = '';
  }

  log(`${mode}: seeding ${fmt(messages)} messages`);
  const fixtures = Child.start('fixtures', env);
  const seedStarted = Date.now();
  let seeded: { users: BenchUser[]; chatId: string };
  try {
    seeded = await seed(fixtures, messages);
    await fixtures.request('close');
  } finally {
    await fixtures.stop();
  }
  log(`${mode}: seeded in ${Math.round((Date.now() - seedStarted) / 1000)} s; starting the server`);

  const server = await ServerProcess.app(`app-${mode}`, await freePort(), env, NODE_ARGS);
  cleanups.push(() => server.stop());
  const cookie = `h2v_session=${seeded.users[0].token}`;
  const url = (format: string) => `${server.url}/api/chats/export/all?format=${format}`;
  await sleep(2_000);
  const results: RunFigures[] = [];
  try {
    results.push(await measured(server, mode, 'html, fast reader (first export of the process)', messages, () => readAll(url('html'), cookie, false)));
    results.push(
      await measured(server, mode, 'json, fast reader', messages, async () => {
        const { bytes, seconds, text, disposition } = await readAll(url('json'), cookie, true);
        const file = JSON.parse(text) as { chats: Array<{ id: string; messages: unknown[] }> };
        const exported = file.chats.find((chat) => chat.id === seeded.chatId)?.messages.length ?? 0;
        if (exported !== messages) throw new Error(`the JSON export holds ${exported} messages, not ${messages}`);
        return { bytes, seconds, note: `all ${fmt(exported)} messages parsed back; ${disposition}` };
      }),
    );
    results.push(
      await measured(server, mode, `json, slow reader (${SLOW_BYTES_PER_SECOND / 1024} KiB/s for ${SLOW_SECONDS} s, then gone)`, messages, async () => ({
        bytes: await readSlowly(url('json'), cookie, SLOW_BYTES_PER_SECOND, SLOW_SECONDS),
      })),
    );
  } finally {
    await server.stop();
  }
  return results;
}

function table(results: RunFigures[]): string {
  const rows = [
    '| mode | run | messages | bytes sent | time (s) | msg/s | RSS before (MB) | RSS peak (MB) | peak − before (MB) | RSS after / 3 s later (MB) |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const complete = !r.run.includes('slow');
    rows.push(
      `| ${r.mode} | ${r.run} | ${fmt(r.messages)} | ${fmt(r.bytes)} | ${r.seconds} | ${complete ? fmt(Math.round(r.messages / r.seconds)) : '–'} | ${r.rssBeforeMb} | ${r.rssPeakMb} | ${Math.round((r.rssPeakMb - r.rssBeforeMb) * 10) / 10} | ${r.rssAfterMb} / ${r.rssSettledMb} |`,
    );
  }
  return rows.join('\n');
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const option = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const messages = Number(option('messages') ?? 100_000);
  const modeOption = option('mode') ?? 'both';
  const keepDb = argv.includes('--keep-db');
  if (!Number.isInteger(messages) || messages < 1 || !['postgres', 'embedded', 'both'].includes(modeOption)) {
    console.error('usage: npm run bench:export [-- --messages=100000] [-- --mode=postgres|embedded|both] [-- --keep-db]');
    return 2;
  }
  if (!existsSync(join(ROOT, 'dist', 'src', 'main.js'))) {
    console.error('dist/src/main.js is missing: run `npm run build` first (npm run bench:export does).');
    return 2;
  }
  const modes: Mode[] = modeOption === 'both' ? ['postgres', 'embedded'] : [modeOption as Mode];
  let services: { databaseUrl: string; redisUrl: string } | null = null;
  const skipped: string[] = [];
  if (modes.includes('postgres')) {
    try {
      services = await checkServices(process.env);
    } catch (error) {
      if (!(error instanceof MissingServices)) throw error;
      skipped.push(`postgres: skipped, ${error.message.replace(/\n/g, '; ')}`);
      if (modeOption === 'postgres') {
        console.error(`the postgres mode needs PostgreSQL and Redis:\n${error.message}`);
        return 2;
      }
    }
  }

  const cleanups = new Cleanups();
  const results: RunFigures[] = [];
  try {
    for (const mode of modes) {
      if (mode === 'postgres' && !services) continue;
      results.push(...(await runMode(mode, messages, services, keepDb, cleanups)));
    }
  } finally {
    await cleanups.cleanup();
  }

  const file = saveResults('-export', { messages, serverNodeArgs: NODE_ARGS, runs: results, skipped });
  console.log(`\n## Export of ${fmt(messages)} messages (server RSS sampled every ${SAMPLE_MS} ms${NODE_ARGS.length ? `; server flags ${NODE_ARGS.join(' ')}` : ''})\n`);
  console.log(table(results));
  for (const line of skipped) console.log(`\n${line}`);
  console.log(`\nresults: ${file}`);
  return 0;
}

runMain(main);
