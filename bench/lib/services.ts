import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { Client } from 'pg';
import { generateVAPIDKeys } from 'web-push';

export class MissingServices extends Error {}

/** Reads DATABASE_URL and REDIS_URL and proves both services answer (with the Redis server's process id); anything missing is named. */
export async function checkServices(env: NodeJS.ProcessEnv): Promise<{ databaseUrl: string; redisUrl: string; redisPid: number | null }> {
  const problems: string[] = [];
  let redisPid: number | null = null;
  const databaseUrl = env.DATABASE_URL?.trim();
  const redisUrl = env.REDIS_URL?.trim();
  if (!databaseUrl) problems.push('DATABASE_URL is not set (PostgreSQL is required, e.g. postgres://postgres@127.0.0.1:5432/test)');
  if (!redisUrl) problems.push('REDIS_URL is not set (Redis is required, e.g. redis://127.0.0.1:6379)');
  if (databaseUrl) {
    const client = new Client({ connectionString: databaseUrl, connectionTimeoutMillis: 3_000 });
    try {
      await client.connect();
      await client.query('SELECT 1');
    } catch (error) {
      problems.push(`PostgreSQL at DATABASE_URL is not reachable: ${(error as Error).message}`);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  if (redisUrl) {
    const redis = new Redis(redisUrl, { lazyConnect: true, connectTimeout: 3_000, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => undefined);
    try {
      await redis.connect();
      await redis.ping();
      redisPid = await redisProcessId(redis);
    } catch (error) {
      problems.push(`Redis at REDIS_URL is not reachable: ${(error as Error).message}`);
    } finally {
      redis.disconnect();
    }
  }
  if (problems.length) throw new MissingServices(problems.join('\n'));
  return { databaseUrl: databaseUrl!, redisUrl: redisUrl!, redisPid };
}

/** The Redis server's `process_id` (INFO server), or null when it does not tell. */
export async function redisProcessId(redis: Redis): Promise<number | null> {
  return Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]) || null;
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function admin(url: string, text: string): Promise<void> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

/** A database of its own for one bench run, dropped at the end whatever happened. */
export async function createBenchDatabase(adminUrl: string, name: string): Promise<string> {
  await admin(adminUrl, `CREATE DATABASE ${name}`);
  return withDatabase(adminUrl, name);
}

export async function dropBenchDatabase(adminUrl: string, name: string): Promise<void> {
  await admin(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

/** Runs `run` against a database of its own (named after `tag`), dropped afterwards whatever happened. */
export async function withScratchDatabase<T>(adminUrl: string, tag: string, run: (url: string) => Promise<T>): Promise<T> {
  const name = `h2v_bench_${tag}_${process.pid}_${Date.now().toString(36)}`;
  const url = await createBenchDatabase(adminUrl, name);
  try {
    return await run(url);
  } finally {
    await dropBenchDatabase(adminUrl, name);
  }
}

export async function deleteRedisPrefix(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      if (keys.length) await redis.del(...keys);
      cursor = next;
    } while (cursor !== '0');
  } finally {
    await redis.quit();
  }
}

/** Plain SQL on the bench database, for bulk fixtures. */
export class Sql {
  private constructor(private readonly client: Client) {}

  static async connect(url: string): Promise<Sql> {
    const client = new Client({ connectionString: url });
    await client.connect();
    return new Sql(client);
  }

  async query<T = any>(text: string, params: unknown[] = []): Promise<T[]> {
    return (await this.client.query(text, params)).rows as T[];
  }

  close(): Promise<void> {
    return this.client.end();
  }
}

/**
 * Undo steps of a bench run, run last-in first-out on `cleanup()` (also on Ctrl-C), each
 * failure reported without stopping the rest.
 */
export class Cleanups {
  private readonly steps: Array<() => Promise<unknown>> = [];

  constructor() {
    process.once('SIGINT', () => void this.cleanup().then(() => process.exit(130)));
  }

  push(step: () => Promise<unknown>): void {
    this.steps.push(step);
  }

  async cleanup(): Promise<void> {
    for (const step of this.steps.splice(0).reverse()) await step().catch((error) => console.error(`cleanup: ${(error as Error).message}`));
  }
}

/**
 * A fresh database `tag` (dropped on cleanup unless `keepDb`) and the Redis prefix `tag`
 * (deleted on cleanup): what every bench run starts from. Resolves the database's URL.
 */
export async function scratchBackend(
  services: { databaseUrl: string; redisUrl: string },
  tag: string,
  cleanups: Cleanups,
  options: { keepDb: boolean; log: (line: string) => void },
): Promise<string> {
  options.log(`creating database ${tag}`);
  const databaseUrl = await createBenchDatabase(services.databaseUrl, tag);
  if (options.keepDb) options.log(`--keep-db: database ${tag} stays (DROP DATABASE ${tag}; when done)`);
  else cleanups.push(() => dropBenchDatabase(services.databaseUrl, tag));
  cleanups.push(() => deleteRedisPrefix(services.redisUrl, tag));
  return databaseUrl;
}

/**
 * The environment every bench app instance starts with: production mode, its own Redis prefix,
 * a fresh secret, and the limits a load generator on 127.0.0.1 would hit lifted (the checks still
 * run): the API limit, the socket frame budgets and the per-address socket cap. The OTP limit is
 * left as it is and never reached; production refuses to start without SMTP, but nothing is sent.
 */
export function benchAppEnv(tag: string): Record<string, string> {
  return {
    NODE_ENV: 'production',
    REDIS_PREFIX: tag,
    // Logging as deployed (LOG_LEVEL info, LOG_REQUEST_CONTEXT off): a bench at warn hid that the
    // request context cost the send path a quarter of its throughput.
    APP_SECRET: randomBytes(32).toString('base64url'),
    SMTP_URL: 'smtp://127.0.0.1:2525',
    RATE_LIMIT_API: '1000000000/60',
    WS_RATE_SEND: '1000000000/1',
    WS_RATE_EVENTS: '1000000000/1',
    WS_RATE_CONNECT: '1000000000/1',
    WS_MAX_SOCKETS_PER_IP: '1000000',
    // The bench reads the send batch sizes from /metrics.
    METRICS_TOKEN: BENCH_METRICS_TOKEN,
  };
}

/** Web Push on (`--web-push`): a VAPID pair made for the run, shared by every instance as a deployment's would be. */
export function webPushEnv(): Record<string, string> {
  const { publicKey, privateKey } = generateVAPIDKeys();
  return { VAPID_PUBLIC_KEY: publicKey, VAPID_PRIVATE_KEY: privateKey, VAPID_SUBJECT: 'mailto:bench@example.com' };
}

export const BENCH_METRICS_TOKEN = 'bench-metrics-token-not-a-secret';

/** A server's /metrics text, or null when it does not answer (a build before it, a server that died). */
async function metricsText(baseUrl: string): Promise<string | null> {
  try {
    const response = await fetch(`${baseUrl}/metrics`, { headers: { Authorization: `Bearer ${BENCH_METRICS_TOKEN}` } });
    return response.ok ? await response.text() : null;
  } catch {
    return null;
  }
}

/** The value of an unlabelled sample `name` in a /metrics text (NaN when absent). */
const sample = (text: string, name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

/** Sum and count of a metric on a server's /metrics, or null when it serves none (a build before it). */
export async function scrapeMetric(baseUrl: string, name: string): Promise<{ sum: number; count: number } | null> {
  const text = await metricsText(baseUrl);
  return text === null ? null : { sum: sample(text, `${name}_sum`), count: sample(text, `${name}_count`) };
}

/** The sum of every labelled series of a histogram's `_sum` (e.g. GC pauses of all kinds), or null when /metrics does not answer or lacks it. */
export async function scrapeLabelledSum(baseUrl: string, name: string): Promise<number | null> {
  const text = await metricsText(baseUrl);
  if (text === null) return null;
  const values = [...text.matchAll(new RegExp(`^${name}_sum(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))].map((m) => Number(m[1]));
  return values.length ? values.reduce((a, b) => a + b, 0) : null;
}

/**
 * Values of unlabelled counters on a server's /metrics (each null when not served: a build before
 * it), or null when /metrics does not answer. Scenario 6 reads each instance's bus counters so.
 */
export async function scrapeCounters(baseUrl: string, names: string[]): Promise<Record<string, number | null> | null> {
  const text = await metricsText(baseUrl);
  if (text === null) return null;
  const values: Record<string, number | null> = {};
  for (const name of names) {
    const value = sample(text, name);
    values[name] = Number.isFinite(value) ? value : null;
  }
  return values;
}
