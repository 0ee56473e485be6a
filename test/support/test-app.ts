import { INestApplication } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Client } from 'pg';
import Redis, { Cluster } from 'ioredis';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/bootstrap';
import { Env } from '../../src/core/config/env.schema';
import { JobQueue } from '../../src/jobs/job-queue';
import { PushNotifier } from '../../src/push/push.notifier';
import { EMBEDDED_TEMPLATE_ENV, TEST_DATABASE_URL, TEST_REDIS_CLUSTER_NODES, TEST_REDIS_URL, databaseUrl, templateDatabase } from './env';
import { SmtpCapture } from './smtp-capture';
import { WsClient, WsConnectOptions } from './ws-client';

/** What several app instances of one test file share: the database, the Redis prefix, the mailbox. */
export interface TestBackend {
  env: Env;
  smtp: SmtpCapture;
  /** SQL straight against the test database, for asserting side effects. */
  sql<T = any>(text: string, params?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

export interface TestApp {
  app: INestApplication;
  url: string;
  wsUrl: string;
  backend: TestBackend;
  logs: string[];
  http(): ReturnType<typeof request>;
  ws(options?: WsConnectOptions): Promise<WsClient>;
  drainJobs(): Promise<void>;
  close(): Promise<void>;
}

const TEST_ENV: Env = {
  NODE_ENV: 'test',
  LOG_LEVEL: 'silent',
  RATE_LIMIT_AUTH: '100000/900',
  RATE_LIMIT_AUTH_IP: '100000/900',
  RATE_LIMIT_API: '100000/60',
  // Every test socket comes from 127.0.0.1; socket-limits.e2e-spec sets its own caps.
  WS_MAX_SOCKETS_PER_IP: '100000',
  // Suites send hundreds of frames per user in seconds (the groups permission matrix: two per
  // case); a fast machine spent the real 30/3 send budget and got RATE_LIMIT instead of
  // message:new. socket-limits.e2e-spec sets and tests the real budgets.
  WS_RATE_SEND: '100000/1',
  WS_RATE_EVENTS: '100000/1',
  WS_RATE_PRESENCE: '100000/1',
  WS_RATE_CONNECT: '100000/1',
  RATE_LIMIT_BUNDLE_FETCH: '100000/3600',
  RATE_LIMIT_PREKEY_HAND_OUT: '100000/3600',
  // Every test user files reports freely and every lookup comes from 127.0.0.1; reports and users specs set the real values.
  RATE_LIMIT_REPORTS: '100000/3600',
  RATE_LIMIT_PROFILE_CHANGES: '100000/60',
  RATE_LIMIT_SEARCH: '100000/60',
  RATE_LIMIT_GROUP_CREATE: '100000/3600',
  RATE_LIMIT_GROUP_CHANGES: '100000/60',
  RATE_LIMIT_REACTIONS: '100000/60',
  RATE_LIMIT_PUBLIC_PROFILE: '100000/60',
  APP_SECRET: 'test-secret-test-secret-test-secret-0123',
};

/** A Redis deployment a backend can use: its REDIS_URL (null: none, the in-process adapters). */
export interface TestRedis {
  label: string;
  url: string | null;
}

/** The run's own Redis (REDIS_URL: one server), or none in the embedded mode. */
export const RUN_REDIS: TestRedis = { label: 'one Redis', url: TEST_REDIS_URL };
/** The Redis Cluster of REDIS_CLUSTER_TEST_NODES, or null when unset. */
export const CLUSTER_REDIS: TestRedis | null = TEST_REDIS_CLUSTER_NODES ? { label: 'a Redis Cluster', url: `redis+cluster://${TEST_REDIS_CLUSTER_NODES}` } : null;

/**
 * Registers `suite` once per Redis deployment a multi-instance suite must work on: one Redis
 * (REDIS_URL) and a Redis Cluster (REDIS_CLUSTER_TEST_NODES; .ci/run starts one). A deployment
 * that is not configured is registered skipped, with the variable to set in its title.
 */
export function describeOnEachRedis(title: string, suite: (redis: TestRedis) => void): void {
  (RUN_REDIS.url ? describe : describe.skip)(`${title} on one Redis${RUN_REDIS.url ? '' : ' (skipped: REDIS_URL is unset)'}`, () => suite(RUN_REDIS));
  describeOnRedisCluster(title, suite);
}

/** Registers `suite` on the Redis Cluster of REDIS_CLUSTER_TEST_NODES, or skipped (the title says why) when it is unset. */
export function describeOnRedisCluster(title: string, suite: (redis: TestRedis) => void): void {
  if (CLUSTER_REDIS) describe(`${title} on a Redis Cluster`, () => suite(CLUSTER_REDIS!));
  else describe.skip(`${title} on a Redis Cluster (skipped: REDIS_CLUSTER_TEST_NODES is unset; .ci/redis-cluster starts one)`, () => suite({ label: 'a Redis Cluster', url: null }));
}

/**
 * A clean backend for one test file: its own Postgres database cloned from the migrated
 * template (or its own embedded PGlite directory), its own Redis key prefix, a real SMTP server.
 * `redis` picks the Redis (default: the run's REDIS_URL).
 */
export async function createBackend(options: { redis?: TestRedis } = {}): Promise<TestBackend> {
  const redisUrl = (options.redis ?? RUN_REDIS).url;
  const id = `${process.pid}_${randomBytes(4).toString('hex')}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'h2v-e2e-'));
  const smtp = await new SmtpCapture().start();
  const env: Env = { ...TEST_ENV, DATA_DIR: dataDir, SMTP_URL: smtp.url };
  const cleanups: Array<() => Promise<void>> = [async () => smtp.stop(), async () => rmSync(dataDir, { recursive: true, force: true })];

  let sql: TestBackend['sql'];
  if (TEST_DATABASE_URL) {
    const database = `h2v_t_${id}`;
    await adminQuery(`CREATE DATABASE ${database} TEMPLATE ${templateDatabase()}`);
    env.DATABASE_URL = databaseUrl(TEST_DATABASE_URL, database);
    env.DB_POOL_SIZE = '5';
    const client = new Client({ connectionString: env.DATABASE_URL });
    await client.connect();
    sql = async (text, params) => (await client.query(text, params as unknown[])).rows;
    cleanups.unshift(async () => {
      await client.end();
      await adminQuery(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    });
  } else {
    // Embedded: a copy of the migrated template (global setup) is this backend's database, and
    // the app's own PGlite is the only handle on the data; reach it through the app.
    const template = process.env[EMBEDDED_TEMPLATE_ENV];
    if (template) cpSync(template, join(dataDir, 'db'), { recursive: true });
    let dataSource: DataSource | null = null;
    sql = async (text, params) => {
      if (!dataSource) throw new Error('start an app before querying the embedded database');
      return dataSource.query(text, params as unknown[]);
    };
    embeddedBinders.set(env, (ds) => (dataSource = ds));
  }
  if (redisUrl) {
    env.REDIS_URL = redisUrl;
    env.REDIS_PREFIX = `t_${id}`;
    cleanups.unshift(() => deleteRedisKeys(redisUrl, `t_${id}`));
  }
  return {
    env,
    smtp,
    sql: (text, params) => sql(text, params),
    close: async () => {
      for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    },
  };
}

/**
 * Deletes a backend's keys: those under its prefix and BullMQ's (`{<prefix>:bull}` on a cluster).
 * On a cluster each primary is scanned, and keys are deleted one by one (they span slots).
 */
async function deleteRedisKeys(url: string, prefix: string): Promise<void> {
  const patterns = [`${prefix}:*`, `{${prefix}:*`];
  const nodes = url.startsWith('redis+cluster://') ? url.slice('redis+cluster://'.length).split(',') : null;
  const client = nodes ? new Cluster(nodes.map((n) => ({ host: n.slice(0, n.lastIndexOf(':')), port: Number(n.slice(n.lastIndexOf(':') + 1)) }))) : new Redis(url);
  try {
    for (const node of client instanceof Cluster ? await primaries(client) : [client]) {
      for (const pattern of patterns) {
        const keys = await node.keys(pattern);
        await Promise.all(keys.map((key) => node.del(key)));
      }
    }
  } finally {
    await client.quit();
  }
}

async function primaries(cluster: Cluster): Promise<Redis[]> {
  if (cluster.status !== 'ready') await new Promise((resolve) => cluster.once('ready', resolve));
  return cluster.nodes('master');
}

let appsCreated = 0;
const embeddedBinders = new WeakMap<Env, (ds: DataSource) => void>();

/**
 * Starts the real AppModule on a random port. Pass `backend` to start a second instance on the
 * same database and Redis (multi-instance tests); `env` overrides single variables.
 */
export async function createTestApp(options: { backend?: TestBackend; env?: Env; captureLogs?: boolean; redis?: TestRedis } = {}): Promise<TestApp> {
  if (options.captureLogs && appsCreated > 0) {
    throw new Error('captureLogs needs the first app of its test file: the process keeps the logger of its first app');
  }
  appsCreated++;
  const ownsBackend = !options.backend;
  const backend = options.backend ?? (await createBackend({ redis: options.redis }));
  const logs: string[] = [];
  const env = { ...backend.env, ...(options.captureLogs ? { LOG_LEVEL: 'debug' } : {}), ...options.env };
  const logDestination = options.captureLogs
    ? new Writable({ write: (chunk, _enc, done) => (logs.push(chunk.toString()), done()) })
    : undefined;
  const app = await createApp({ env, logDestination: logDestination as never });
  await app.listen(0, '127.0.0.1');
  embeddedBinders.get(backend.env)?.(app.get(DataSource));
  const { port } = app.getHttpServer().address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    app,
    url,
    wsUrl: `ws://127.0.0.1:${port}/ws`,
    backend,
    logs,
    http: () => request(url),
    ws: (wsOptions) => WsClient.connect(`ws://127.0.0.1:${port}/ws`, wsOptions),
    // The messages stored so far reach the queue first (PushNotifier gathers them for a moment).
    drainJobs: async () => {
      await app.get(PushNotifier, { strict: false }).queued();
      await app.get(JobQueue).drain();
    },
    close: async () => {
      await app.close();
      if (ownsBackend) await backend.close();
    },
  };
}

async function adminQuery(text: string): Promise<void> {
  const admin = new Client({ connectionString: TEST_DATABASE_URL! });
  await admin.connect();
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.query(text);
        return;
      } catch (error) {
        // Two files cloning the template at the same instant: Postgres refuses one; try again.
        if (attempt >= 10 || !/being accessed by other users/.test((error as Error).message)) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  } finally {
    await admin.end();
  }
}

/** Two app instances on one backend (database, Redis prefix, mailbox), for a describe block. */
export interface TwoInstances {
  one: TestApp;
  two: TestApp;
  backend: TestBackend;
}

/**
 * The environment of each instance: one for all, or per instance (0 for the first), read when
 * the instances start (so it may use what an enclosing beforeAll set up).
 */
export type InstanceEnv = Env | ((instance: number) => Env);

/**
 * Registers beforeAll/afterAll that start two instances on one backend and close them; the
 * returned object is filled in when the block's tests run. `redis`: see createBackend.
 */
export function twoInstances(env: InstanceEnv = {}, redis?: TestRedis): TwoInstances {
  const group = instances(2, env, redis);
  const pair = {} as TwoInstances;
  beforeAll(() => {
    [pair.one, pair.two] = group.apps;
    pair.backend = group.backend;
  });
  return pair;
}

/** `n` app instances on one backend, for a describe block. */
export interface Instances {
  apps: TestApp[];
  backend: TestBackend;
}

/** Like twoInstances, with `n` of them (issue 19's routed bus: an event reaches only the instances holding its recipients). */
export function instances(n: number, env: InstanceEnv = {}, redis?: TestRedis): Instances {
  const group = { apps: [] } as unknown as Instances;
  beforeAll(async () => {
    group.backend = await createBackend({ redis });
    for (let i = 0; i < n; i++) group.apps.push(await createTestApp({ backend: group.backend, env: typeof env === 'function' ? env(i) : env }));
  });
  afterAll(async () => {
    for (const app of [...group.apps].reverse()) await app.close();
    await group.backend?.close();
  });
  return group;
}
