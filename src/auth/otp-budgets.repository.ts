import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import type { RateLimit } from '../core/config/env.schema';
import { returned } from '../core/database/query-results';

/** How many codes one email may be sent, and how many wrong codes it may take, per window. */
export interface OtpLimits {
  sends: RateLimit;
  wrongCodes: RateLimit;
}

/** Where an email's budget stands, by the database clock. */
export interface OtpBudget {
  /** End of the sign-in lockout after too many wrong codes; null when not locked. */
  lockedUntil: Date | null;
  /** When the send allowance frees up again; null while codes are left. */
  sendsSpentUntil: Date | null;
}

const toDate = (value: unknown): Date | null => (value == null ? null : new Date(value as string | Date));

/**
 * The per-email budget of the otp_budgets table. Windows are fixed: each starts with the first
 * event after the previous one ended. Every method runs in the caller's transaction; the budget
 * row is the per-email lock that sends and checks take before the otp_codes row.
 */
@Injectable()
export class OtpBudgetsRepository {
  /** Creates the email's budget if needed and locks it for the rest of `tx`. */
  async lockForSend(tx: EntityManager, email: string, limits: OtpLimits): Promise<OtpBudget> {
    await tx.query(`INSERT INTO otp_budgets (email) VALUES ($1) ON CONFLICT (email) DO NOTHING`, [email]);
    return (await this.lock(tx, email, limits))!;
  }

  /** Locks the email's budget for the rest of `tx`; null when it has none (no code was sent since the last sign-in). */
  lockForCheck(tx: EntityManager, email: string, limits: OtpLimits): Promise<OtpBudget | null> {
    return this.lock(tx, email, limits);
  }

  async recordSend(tx: EntityManager, email: string, sends: RateLimit): Promise<void> {
    await tx.query(
      `UPDATE otp_budgets SET
         sends = CASE WHEN sends = 0 OR sends_since <= now() - make_interval(secs => $2) THEN 1 ELSE sends + 1 END,
         sends_since = CASE WHEN sends = 0 OR sends_since <= now() - make_interval(secs => $2) THEN now() ELSE sends_since END
       WHERE email = $1`,
      [email, sends.windowSeconds],
    );
  }

  /** A send whose mail could not be delivered does not count. */
  async refundSend(tx: EntityManager, email: string): Promise<void> {
    await tx.query(`UPDATE otp_budgets SET sends = GREATEST(sends - 1, 0) WHERE email = $1`, [email]);
  }

  /** Counts a wrong code; resolves the end of the lockout when this one reached the limit, else null. */
  async recordWrongCode(tx: EntityManager, email: string, wrongCodes: RateLimit): Promise<Date | null> {
    // An upsert, so that a wrong code is counted even if the row were missing.
    const [row] = returned<{ locked_until: unknown }>(
      await tx.query(
        `INSERT INTO otp_budgets AS b (email, wrong_codes, wrong_since) VALUES ($1, 1, now())
         ON CONFLICT (email) DO UPDATE SET
           wrong_codes = CASE WHEN b.wrong_codes = 0 OR b.wrong_since <= now() - make_interval(secs => $3) THEN 1 ELSE b.wrong_codes + 1 END,
           wrong_since = CASE WHEN b.wrong_codes = 0 OR b.wrong_since <= now() - make_interval(secs => $3) THEN now() ELSE b.wrong_since END
         RETURNING CASE WHEN wrong_codes >= $2 THEN wrong_since + make_interval(secs => $3) END AS locked_until`,
        [email, wrongCodes.limit, wrongCodes.windowSeconds],
      ),
    );
    return toDate(row?.locked_until);
  }

  /** A successful sign-in starts the email's budget over. */
  async clear(tx: EntityManager, email: string): Promise<void> {
    await tx.query(`DELETE FROM otp_budgets WHERE email = $1`, [email]);
  }

  private async lock(tx: EntityManager, email: string, limits: OtpLimits): Promise<OtpBudget | null> {
    const rows: Array<{ locked_until: unknown; sends_spent_until: unknown }> = await tx.query(
      `SELECT
         CASE WHEN wrong_codes >= $2 AND wrong_since > now() - make_interval(secs => $3)
              THEN wrong_since + make_interval(secs => $3) END AS locked_until,
         CASE WHEN sends >= $4 AND sends_since > now() - make_interval(secs => $5)
              THEN sends_since + make_interval(secs => $5) END AS sends_spent_until
       FROM otp_budgets WHERE email = $1 FOR UPDATE`,
      [email, limits.wrongCodes.limit, limits.wrongCodes.windowSeconds, limits.sends.limit, limits.sends.windowSeconds],
    );
    const row = rows[0];
    return row ? { lockedUntil: toDate(row.locked_until), sendsSpentUntil: toDate(row.sends_spent_until) } : null;
  }
}
