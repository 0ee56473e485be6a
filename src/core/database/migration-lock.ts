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

/** Applies pending migrations, each in its own transaction (unless it says otherwise), under the migration lock and on its connection. */
export function runPendingMigrations(dataSource: DataSource): Promise<Migration[]> {
  return withMigrationLock(dataSource, (runner) => {
    const executor = new MigrationExecutor(dataSource, runner);
    executor.transaction = 'each';
    return executor.executePendingMigrations();
  });
}

/** Reverts the last applied migration under the migration lock. */
export function revertLastMigration(dataSource: DataSource): Promise<void> {
  return withMigrationLock(dataSource, (runner) => {
    const executor = new MigrationExecutor(dataSource, runner);
    executor.transaction = 'each';
    return executor.undoLastMigration();
  });
}
