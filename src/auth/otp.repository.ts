import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { returned } from '../core/database/query-results';
import { OtpCodeEntity } from './entities/otp-code.entity';

/** The pending code of each email (otp_codes). Every method runs in the caller's transaction. */
@Injectable()
export class OtpRepository {
  /** Seconds until the email may be sent another code (0: now); the row of a burned code still holds the interval. */
  async secondsUntilResend(tx: EntityManager, email: string, intervalSeconds: number): Promise<number> {
    const [row] = (await tx.query(
      `SELECT GREATEST(0, CEIL($2 - EXTRACT(EPOCH FROM now() - sent_at)))::int AS wait FROM otp_codes WHERE email = $1`,
      [email, intervalSeconds],
    )) as Array<{ wait: number }>;
    return row?.wait ?? 0;
  }

  /** Stores a fresh code for the email, replacing any earlier one. */
  async store(tx: EntityManager, email: string, codeHash: string, ttlSeconds: number): Promise<void> {
    await tx.query(
      `INSERT INTO otp_codes (email, code_hash, verify_token_hash, attempts, sent_at, expires_at)
       VALUES ($1, $2, NULL, 0, now(), now() + make_interval(secs => $3))
       ON CONFLICT (email) DO UPDATE
         SET code_hash = EXCLUDED.code_hash, verify_token_hash = NULL, attempts = 0,
             sent_at = EXCLUDED.sent_at, expires_at = EXCLUDED.expires_at`,
      [email, codeHash, ttlSeconds],
    );
  }

  /**
   * Locks the email's pending code for the rest of the transaction; null when there is none or it
   * expired, 'burned' when `maxAttempts` wrong tries used it up (that row stays until it expires:
   * it holds the resend interval).
   */
  async lockLive(tx: EntityManager, email: string, maxAttempts: number): Promise<OtpCodeEntity | 'burned' | null> {
    const rows = (await tx.query(`SELECT *, expires_at > now() AS live FROM otp_codes WHERE email = $1 FOR UPDATE`, [email])) as Array<
      Record<string, any>
    >;
    const row = rows[0];
    if (!row) return null;
    if (!row.live) {
      await tx.query(`DELETE FROM otp_codes WHERE email = $1`, [email]);
      return null;
    }
    if (row.attempts >= maxAttempts) return 'burned';
    return { email: row.email, codeHash: row.code_hash, verifyTokenHash: row.verify_token_hash, attempts: row.attempts, sentAt: row.sent_at, expiresAt: row.expires_at };
  }

  /** Whether `codeHash` is the email's code still, unexpired and not burned by `maxAttempts` wrong tries. */
  async isLive(tx: EntityManager, email: string, codeHash: string, maxAttempts: number): Promise<boolean> {
    const rows = (await tx.query(`SELECT 1 FROM otp_codes WHERE email = $1 AND code_hash = $2 AND expires_at > now() AND attempts < $3`, [email, codeHash, maxAttempts])) as unknown[];
    return rows.length > 0;
  }

  async setAttempts(tx: EntityManager, email: string, attempts: number): Promise<void> {
    await tx.query(`UPDATE otp_codes SET attempts = $2 WHERE email = $1`, [email, attempts]);
  }

  async setVerifyToken(tx: EntityManager, email: string, tokenHash: string): Promise<void> {
    await tx.query(`UPDATE otp_codes SET verify_token_hash = $2 WHERE email = $1`, [email, tokenHash]);
  }

  /** Deletes the email's code; with `codeHash`, only if it is still that code (a newer send survives). True when one was deleted. */
  async delete(tx: EntityManager, email: string, codeHash?: string): Promise<boolean> {
    const rows = returned(
      await tx.query(`DELETE FROM otp_codes WHERE email = $1 AND ($2::text IS NULL OR code_hash = $2) RETURNING email`, [email, codeHash ?? null]),
    );
    return rows.length > 0;
  }
}
