import { Logger } from '@nestjs/common';
import { DataSource, Migration, MigrationExecutor, QueryRunner } from 'typeorm';

/**
 * The advisory lock every instance takes before touching the schema: a fixed 64-bit key (the
 * bytes of "h2v:mig", 0x6832763a6d6967), the same in every process that runs our migrations.
 */
export const MIGRATION_LOCK_KEY = '29328880945686887';

/**
 * Runs `work` on one connection while it holds a session-level PostgreSQL advisory lock, so
 * instances started at once on an empty database take turns instead of racing to create the
 * same tables: the first applies the migrations, the others wait, then find none pending. On
 * embedded PGlite (one session, one process) the lock is uncontended and costs nothing.
 */
export async function withMigrationLock<T>(dataSource: DataSource, work: (runner: QueryRunner) => Promise<T>): Promise<T> {
  const runner = dataSource.createQueryRunner();
  try {
    await runner.connect();
    // Polled, not waited for in one statement: a statement waiting for the lock holds a snapshot,
    // which a CREATE INDEX CONCURRENTLY run by the holder waits for in turn (a deadlock).
    while (!(await tryLock(runner))) await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
    try {
      return await work(runner);
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await runner.release();
  }
}

/** How often an instance waiting for the migration lock asks for it again. */
const LOCK_POLL_MS = 200;

async function tryLock(runner: QueryRunner): Promise<boolean> {
  const [row] = (await runner.query('SELECT pg_try_advisory_lock($1::bigint) AS locked', [MIGRATION_LOCK_KEY])) as Array<{ locked: boolean }>;
  return row.locked;
}

/**
 * How long a migration's statement waits for a table lock before it gives up. An ALTER TABLE
 * waits for every transaction using its table, and every query on that table that comes after
 * queues behind the ALTER: with no limit, one long transaction on `chats` during a rolling deploy
 * stalled all sends and chat reads of the running instances for as long as it lasted. With it,
 * they wait at most this long; the migration's transaction rolls back (SQLSTATE 55P03) and the
 * pending migrations run again after a pause in which it holds no table lock. A `transaction =
 * false` migration that steps back keeps what its earlier statements did, so it must be safe to
 * run again (ours are: IF NOT EXISTS, and a half-built index dropped first).
 */
export const MIGRATION_LOCK_TIMEOUT_MS = 3_000;

/** The pause before running the migrations again after a lock timeout, doubling up to RETRY_MAX_MS. */
const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 30_000;

/** PostgreSQL's lock_not_available, what a lock_timeout raises. */
const LOCK_NOT_AVAILABLE = '55P03';

/**
 * A statement that says CONCURRENTLY (an index built or dropped in a `transaction = false`
 * migration) blocks no reads or writes, and waits for every older transaction in the database,
 * whatever table it uses: under the lock timeout it would fail whenever any transaction lasts
 * longer, and scan its table again on each try. It runs with no timeout instead.
 */
const CONCURRENTLY = /\bCONCURRENTLY\b/i;

const logger = new Logger('Migrations');

/** Applies pending migrations, each in its own transaction (unless it says otherwise), under the migration lock and on its connection. */
export function runPendingMigrations(dataSource: DataSource): Promise<Migration[]> {
  return withMigrationLock(dataSource, (runner) =>
    withLockTimeout(runner, async () => {
      const executor = new MigrationExecutor(dataSource, runner);
      executor.transaction = 'each';
      // Listed before the first try: one that times out has applied the migrations before it, which the next try does not return.
      const pending = await retryingAfterLockTimeouts(() => executor.getPendingMigrations());
      await retryingAfterLockTimeouts(() => executor.executePendingMigrations());
      return pending;
    }),
  );
}

/** Reverts the last applied migration under the migration lock (its transaction rolled back and tried again after a lock timeout). */
export function revertLastMigration(dataSource: DataSource): Promise<void> {
  return withMigrationLock(dataSource, (runner) =>
    withLockTimeout(runner, () => {
      const executor = new MigrationExecutor(dataSource, runner);
      executor.transaction = 'each';
      return retryingAfterLockTimeouts(() => executor.undoLastMigration());
    }),
  );
}

/**
 * Runs `work` with MIGRATION_LOCK_TIMEOUT_MS as the session's lock_timeout (but CONCURRENTLY
 * statements with none), then gives the session back its own setting: the pool lends the
 * connection to the app afterwards. Embedded PGlite is one session and never waits for a lock.
 */
async function withLockTimeout<T>(runner: QueryRunner, work: () => Promise<T>): Promise<T> {
  const query = runner.query.bind(runner) as (sql: string, parameters?: unknown[], structured?: boolean) => Promise<unknown>;
  const limit = `SET lock_timeout = ${MIGRATION_LOCK_TIMEOUT_MS}`;
  await query(limit);
  runner.query = (async (sql: string, parameters?: unknown[], structured?: boolean) => {
    if (!CONCURRENTLY.test(sql)) return query(sql, parameters, structured);
    await query('SET lock_timeout = 0');
    try {
      return await query(sql, parameters, structured);
    } finally {
      await query(limit);
    }
  }) as QueryRunner['query'];
  try {
    return await work();
  } finally {
    runner.query = query as QueryRunner['query'];
    await query('RESET lock_timeout');
  }
}

/** Runs `attempt` until it ends with no lock timeout, pausing between tries (nothing is held meanwhile: the failed transaction rolled back). */
async function retryingAfterLockTimeouts<T>(attempt: () => Promise<T>): Promise<T> {
  for (let pauseMs = RETRY_FIRST_MS; ; pauseMs = Math.min(pauseMs * 2, RETRY_MAX_MS)) {
    try {
      return await attempt();
    } catch (error) {
      if ((error as { code?: unknown }).code !== LOCK_NOT_AVAILABLE) throw error;
      const statement = String((error as { query?: unknown }).query ?? '').replace(/\s+/g, ' ').slice(0, 120);
      logger.warn(
        `A migration waited ${MIGRATION_LOCK_TIMEOUT_MS / 1000} s for a lock held by another transaction and stepped back, so that the queries queued behind it go on (${statement}); trying again in ${pauseMs / 1000} s`,
      );
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  }
}
