import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { PeriodicTask, TaskSchedule } from '../async/periodic-task';
import { AppConfig } from '../config/app-config';

/** How often the embedded database's tables are checked for vacuuming and analysing. */
export const EMBEDDED_VACUUM_MS = 60 * 60_000;
const FIRST_RUN_MS = 60_000;

/**
 * The tables autovacuum's default thresholds would visit now: VACUUM (ANALYZE) where dead rows
 * passed 50 + 20% of the live ones, ANALYZE alone where changes since the last one passed 50 + 10%.
 */
const DUE_SQL = `SELECT format('%I.%I', schemaname, relname) AS name, n_dead_tup > 50 + 0.2 * n_live_tup AS vacuum
  FROM pg_stat_user_tables
 WHERE n_dead_tup > 50 + 0.2 * n_live_tup OR n_mod_since_analyze > 50 + 0.1 * n_live_tup
 ORDER BY relname`;

/**
 * Autovacuum for the embedded mode. PGlite runs PostgreSQL as one single-user session, where the
 * autovacuum launcher never runs: without this, the rows every sign-in code, session refresh and
 * deletion leaves dead are never reclaimed (the data directory only grows, scans slow down) and
 * the planner never gets statistics. Once an hour (the first a minute after start) each table
 * that autovacuum would have visited is vacuumed or analysed, one statement at a time, so that
 * requests queue behind one table's work, not all of them. PostgreSQL has its own autovacuum.
 */
@Injectable()
export class EmbeddedVacuum extends PeriodicTask {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: AppConfig,
  ) {
    super('embedded vacuum', new Logger('EmbeddedVacuum'));
  }

  protected schedule(): TaskSchedule | null {
    return this.config.values.databaseUrl ? null : { everyMs: EMBEDDED_VACUUM_MS, firstMs: FIRST_RUN_MS };
  }

  /** Vacuums or analyses the tables due; resolves how many. */
  protected async work(): Promise<number> {
    const due = (await this.dataSource.query(DUE_SQL)) as Array<{ name: string; vacuum: boolean }>;
    for (const table of due) await this.dataSource.query(`${table.vacuum ? 'VACUUM (ANALYZE)' : 'ANALYZE'} ${table.name}`);
    if (due.length) this.logger.debug(`vacuumed or analysed ${due.length} tables`);
    return due.length;
  }
}
