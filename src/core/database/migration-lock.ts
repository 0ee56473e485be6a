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
    await runner.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    try {
      return await work(runner);
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await runner.release();
  }
}

/** Applies pending migrations, each in its own transaction, under the migration lock and on its connection. */
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
