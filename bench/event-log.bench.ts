/**
 * The Redis event log alone (issue 18's cost): the appends of scenario 1's direct messages,
 * driven in-process against REDIS_URL, with the CPU they cost this process and the Redis server
 * per message. `npm run bench` shows the cost inside the whole send path, where it is a few
 * percent of a figure that scatters by as much between runs; here it is the only work, so a
 * change to the append path shows in a few seconds.
 *
 * Each message is what MessagesService publishes for a 1:1 send: one append for `message:new`
 * (the recipient's body and the sender's, which also carries the clientMessageId) and one for
 * the sender's `message:delivered`. BENCH_LOG_PAIRS pairs (default 200) each keep
 * BENCH_LOG_WINDOW messages (default 4) waiting for their seqs, as the closed loop of scenario 1
 * does; BENCH_LOG_SECONDS (default 5) after a second of warm-up; BENCH_LOG_ROUNDS rounds
 * (default 3). Prints one line per round; keys go under a prefix of their own, deleted after.
 * Run: `npm run bench:event-log` (BENCH_APP_DIST=<other checkout>/dist to measure another build).
 */
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import Redis from 'ioredis';
import type { AppConfig } from '../src/core/config/app-config';
import type { RedisService as RedisServiceType } from '../src/core/redis/redis.service';
import type { RedisEventLog as RedisEventLogType } from '../src/realtime/event-log/redis-event-log';
import { cpuMsOf, localRedisPid } from './lib/cpu';
import { deleteRedisPrefix, redisProcessId } from './lib/services';
import { runMain } from './lib/results';

const PAIRS = Number(process.env.BENCH_LOG_PAIRS ?? 200);
const WINDOW = Number(process.env.BENCH_LOG_WINDOW ?? 4);
const SECONDS = Number(process.env.BENCH_LOG_SECONDS ?? 5);
const ROUNDS = Number(process.env.BENCH_LOG_ROUNDS ?? 3);
const DIST = resolve(process.env.BENCH_APP_DIST ?? resolve(__dirname, '..'));

/** A message:new body of scenario 1's shape and size (~700 bytes), for message `n` of chat `chat`. */
function messageBody(chat: string, sender: string, n: number, clientMessageId?: string): Buffer {
  const at = new Date().toISOString();
  const payload = {
    id: `01a22f83-b3e0-7001-a89a-${String(n).padStart(12, '0')}`,
    chatId: chat,
    seq: n,
    sender: { id: sender, nickname: 'pa0', firstName: null, lastName: null, avatar: null },
    text: `bench:51468e40-3455-4225-a237-${String(n).padStart(12, '0')}`,
    type: 'TEXT',
    mediaUrl: null,
    mediaName: null,
    mediaSize: null,
    isDeleted: false,
    isEdited: false,
    replyToId: null,
    replyTo: null,
    forwardedFromId: null,
    forwardSenderName: null,
    createdAt: at,
    updatedAt: at,
    readReceipts: [],
    reactions: [],
    ciphertext: null,
    signalType: null,
    mediaGroupId: null,
    ...(clientMessageId ? { clientMessageId } : {}),
  };
  return Buffer.from(JSON.stringify({ event: 'message:new', payload }));
}

async function main(): Promise<void> {
  const redisUrl = process.env.REDIS_URL;
  if (!redisUrl) throw new Error('REDIS_URL is not set (e.g. redis://127.0.0.1:6379)');
  /* eslint-disable @typescript-eslint/no-require-imports */
  const { RedisService } = require(`${DIST}/src/core/redis/redis.service`) as { RedisService: typeof RedisServiceType };
  const { RedisEventLog } = require(`${DIST}/src/realtime/event-log/redis-event-log`) as { RedisEventLog: typeof RedisEventLogType };
  /* eslint-enable @typescript-eslint/no-require-imports */
  const prefix = `bench_log_${Date.now()}`;
  const admin = new Redis(redisUrl);
  const redisPid = localRedisPid(await redisProcessId(admin));
  admin.disconnect();
  const redis = new RedisService({ usesRedis: true, values: { redisUrl, redisPrefix: prefix } } as unknown as AppConfig);
  await redis.onModuleInit();
  const log = new RedisEventLog(redis, { maxEvents: 2_000, maxAgeMs: 24 * 3_600_000 });
  await log.onModuleInit();

  const pairs = Array.from({ length: PAIRS }, (_, i) => ({ chat: `chat-${i}`, a: `01a22f83-0000-7000-8000-${String(i).padStart(12, '0')}`, b: `01a22f83-0000-7000-9000-${String(i).padStart(12, '0')}`, n: 0 }));
  // Bodies made beforehand (a few per pair, used in turn): the figures are the log's, not JSON.stringify's.
  const VARIANTS = 8;
  const bodies = pairs.map((pair) =>
    Array.from({ length: VARIANTS }, (_, n) => ({
      recipient: messageBody(pair.chat, pair.a, n),
      sender: messageBody(pair.chat, pair.a, n, `51468e40-3455-4225-a237-${String(n).padStart(12, '0')}`),
      delivered: Buffer.from(JSON.stringify({ event: 'message:delivered', payload: { messageId: `01a22f83-b3e0-7001-a89a-${String(n).padStart(12, '0')}`, chatId: pair.chat } })),
    })),
  );
  let running = false;
  let completed = 0;
  let failed = 0;
  const sendOne = (p: number): void => {
    const pair = pairs[p];
    const made = bodies[p][pair.n++ % VARIANTS];
    void Promise.all([
      log.append([
        { userIds: [pair.b], body: made.recipient },
        { userIds: [pair.a], body: made.sender },
      ]),
      log.append([{ userIds: [pair.a], body: made.delivered }]),
    ]).then(([message, delivered]) => {
      if (message[0][0] === null || message[1][0] === null || delivered[0][0] === null) failed++;
      else completed++;
      if (running) sendOne(p);
    });
  };
  const settle = () => new Promise<void>((done) => setTimeout(done, 1_000));

  console.log(`event log appends, 1:1 (${PAIRS} pairs x ${WINDOW} in flight), ${redisUrl}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  for (let round = 1; round <= ROUNDS; round++) {
    running = true;
    for (let w = 0; w < WINDOW; w++) for (let p = 0; p < PAIRS; p++) sendOne(p);
    await settle();
    const started = performance.now();
    const cpu = process.cpuUsage();
    const redisBefore = redisPid === null ? 0 : cpuMsOf(redisPid);
    const before = completed;
    await new Promise((done) => setTimeout(done, SECONDS * 1_000));
    const messages = completed - before;
    const used = process.cpuUsage(cpu);
    const nodeUs = (used.user + used.system) / messages;
    const redisUs = redisPid === null ? NaN : ((cpuMsOf(redisPid) - redisBefore) * 1000) / messages;
    const seconds = (performance.now() - started) / 1000;
    running = false;
    await settle();
    console.log(`round ${round}: ${Math.round(messages / seconds).toLocaleString('en-US')} msg/s; CPU/msg: Node ${nodeUs.toFixed(1)} µs, Redis ${redisPid === null ? '(not local)' : `${redisUs.toFixed(1)} µs`}${failed ? `; ${failed} failed` : ''}`);
  }

  log.onApplicationShutdown();
  await deleteRedisPrefix(redisUrl, prefix);
  await redis.onApplicationShutdown();
}

runMain(main);
