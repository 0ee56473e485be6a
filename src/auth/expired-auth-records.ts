import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { PeriodicTask, TaskSchedule } from '../core/async/periodic-task';
import { AppConfig } from '../core/config/app-config';
import { deleteInBatches } from '../core/database/batched-delete';

/** How often instances that run background work (WORKERS) delete what sign-in left behind; the first run two minutes after start. */
export const EXPIRED_AUTH_RECORDS_EVERY_MS = 3_600_000;
const FIRST_RUN_MS = 2 * 60_000;
/** Rows per statement: each is a short transaction, however much piled up. */
const BATCH = 1_000;

/**
 * Deletes what sign-in leaves behind once it can no longer matter: codes past their expiry (a
 * new send replaces one anyway), budgets whose windows have both ended and that have no code
 * (what an ended window counts is what no row counts: nothing), and sessions past their expiry
 * (never accepted again; their push tokens go with them). Nothing else ever deleted them: anyone
 * could grow otp_codes and otp_budgets by a row per code asked for any address, and the sessions
 * of browsers that dropped their cookie stayed with their addresses for good. Rows a sign-in is
 * using at the moment are skipped (SKIP LOCKED) and looked at next time.
 */
@Injectable()
export class ExpiredAuthRecords extends PeriodicTask {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: AppConfig,
  ) {
    super('expired sign-in records deletion', new Logger('Auth'));
  }

  protected schedule(): TaskSchedule | null {
    return this.config.values.workers ? { everyMs: EXPIRED_AUTH_RECORDS_EVERY_MS, firstMs: FIRST_RUN_MS } : null;
  }

  /** Resolves how many rows went. */
  protected async work(): Promise<number> {
    const { otpSendLimit, otpWrongCodeLimit } = this.config.values;
    const codes = await deleteInBatches(
      this.dataSource,
      `DELETE FROM otp_codes WHERE email IN (SELECT email FROM otp_codes WHERE expires_at < now() LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING 1`,
      [],
      BATCH,
    );
    const budgets = await deleteInBatches(
      this.dataSource,
      `DELETE FROM otp_budgets WHERE email IN (
         SELECT b.email FROM otp_budgets b
          WHERE (b.sends = 0 OR b.sends_since <= now() - make_interval(secs => $2))
            AND (b.wrong_codes = 0 OR b.wrong_since <= now() - make_interval(secs => $3))
            AND NOT EXISTS (SELECT 1 FROM otp_codes c WHERE c.email = b.email)
          LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING 1`,
      [otpSendLimit.windowSeconds, otpWrongCodeLimit.windowSeconds],
      BATCH,
    );
    const sessions = await deleteInBatches(
      this.dataSource,
      `DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at < now() LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING 1`,
      [],
      BATCH,
    );
    const deleted = codes + budgets + sessions;
    if (deleted) this.logger.log(`deleted ${deleted} expired sign-in code(s), budget(s) and session(s)`);
    return deleted;
  }
}
