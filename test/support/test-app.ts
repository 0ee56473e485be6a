import { INestApplication } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { Client } from 'pg';
import Redis from 'ioredis';
import request from 'supertest';
import { DataSource } from 'typeorm';
import { createApp } from '../../src/bootstrap';
import { Env } from '../../src/core/config/env.schema';
import { JobQueue } from '../../src/jobs/job-queue';
import { TEST_DATABASE_URL, TEST_REDIS_URL, databaseUrl, templateDatabase } from './env';
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
  RATE_LIMIT_BUNDLE_FETCH: '100000/3600',
  RATE_LIMIT_PREKEY_HAND_OUT: '100000/3600',
  APP_SECRET: 'test-secret-test-secret-test-secret-0123',
};

/**
 * A clean backend for one test file: its own Postgres database cloned from the migrated
 * template (or its own embedded PGlite directory), its own Redis key prefix, a real SMTP server.
 */
export async function createBackend(): Promise<TestBackend> {
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
    // Embedded: the app's own PGlite is the only handle on the data; reach it through the app.
    let dataSource: DataSource | null = null;
    sql = async (text, params) => {
      if (!dataSource) throw new Error('start an app before querying the embedded database');
      return dataSource.query(text, params as unknown[]);
    };
    embeddedBinders.set(env, (ds) => (dataSource = ds));
  }
  if (TEST_REDIS_URL) {
    env.REDIS_URL = TEST_REDIS_URL;
    env.REDIS_PREFIX = `t_${id}`;
    cleanups.unshift(async () => {
      const redis = new Redis(TEST_REDIS_URL!);
      const keys = await redis.keys(`t_${id}:*`);
      if (keys.length) await redis.del(...keys);
      await redis.quit();
    });
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

let appsCreated = 0;
const embeddedBinders = new WeakMap<Env, (ds: DataSource) => void>();

/**
 * Starts the real AppModule on a random port. Pass `backend` to start a second instance on the
 * same database and Redis (multi-instance tests); `env` overrides single variables.
 */
export async function createTestApp(options: { backend?: TestBackend; env?: Env; captureLogs?: boolean } = {}): Promise<TestApp> {
  if (options.captureLogs && appsCreated > 0) {
    throw new Error('captureLogs needs the first app of its test file: nestjs-pino keeps one logger per process');
  }
  appsCreated++;
  const ownsBackend = !options.backend;
  const backend = options.backend ?? (await createBackend());
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
    drainJobs: () => app.get(JobQueue).drain(),
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
 * Registers beforeAll/afterAll that start two instances on one backend and close them; the
 * returned object is filled in when the block's tests run.
 */
export function twoInstances(env: Env = {}): TwoInstances {
  const pair = {} as TwoInstances;
  beforeAll(async () => {
    pair.backend = await createBackend();
    pair.one = await createTestApp({ backend: pair.backend, env });
    pair.two = await createTestApp({ backend: pair.backend, env });
  });
  afterAll(async () => {
    await pair.two?.close();
    await pair.one?.close();
    await pair.backend?.close();
  });
  return pair;
}
