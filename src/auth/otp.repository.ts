import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { returned } from '../core/database/query-results';
import { OtpCodeEntity } from './entities/otp-code.entity';

@Injectable()
export class OtpRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Stores a fresh code for the email unless one was sent less than `intervalSeconds` ago.
   * One statement, so two concurrent sends cannot both pass the interval check.
   * Resolves null when it is too soon, with the seconds left.
   */
  async replaceIfDue(email: string, codeHash: string, ttlSeconds: number, intervalSeconds: number): Promise<{ retryAfter: number } | null> {
    const stored = returned(await this.dataSource.query(
      `INSERT INTO otp_codes (email, code_hash, verify_token_hash, attempts, sent_at, expires_at)
       VALUES ($1, $2, NULL, 0, now(), now() + make_interval(secs => $3))
       ON CONFLICT (email) DO UPDATE
         SET code_hash = EXCLUDED.code_hash, verify_token_hash = NULL, attempts = 0,
             sent_at = EXCLUDED.sent_at, expires_at = EXCLUDED.expires_at
         WHERE otp_codes.sent_at <= now() - make_interval(secs => $4)
       RETURNING email`,
      [email, codeHash, ttlSeconds, intervalSeconds],
    ));
    if (stored.length) return null;
    const [row] = (await this.dataSource.query(
      `SELECT GREATEST(1, CEIL($2 - EXTRACT(EPOCH FROM now() - sent_at)))::int AS "retryAfter" FROM otp_codes WHERE email = $1`,
      [email, intervalSeconds],
    )) as Array<{ retryAfter: number }>;
    return { retryAfter: row?.retryAfter ?? 1 };
  }

  /** Locks the email's pending code for the rest of the transaction; null when there is none or it expired. */
  async lockLive(tx: EntityManager, email: string): Promise<OtpCodeEntity | null> {
    const rows = (await tx.query(`SELECT *, expires_at > now() AS live FROM otp_codes WHERE email = $1 FOR UPDATE`, [email])) as Array<
      Record<string, any>
    >;
    const row = rows[0];
    if (!row) return null;
    if (!row.live) {
      await tx.query(`DELETE FROM otp_codes WHERE email = $1`, [email]);
      return null;
    }
    return { email: row.email, codeHash: row.code_hash, verifyTokenHash: row.verify_token_hash, attempts: row.attempts, sentAt: row.sent_at, expiresAt: row.expires_at };
  }

  async setAttempts(tx: EntityManager, email: string, attempts: number): Promise<void> {
    await tx.query(`UPDATE otp_codes SET attempts = $2 WHERE email = $1`, [email, attempts]);
  }

  async setVerifyToken(tx: EntityManager, email: string, tokenHash: string): Promise<void> {
    await tx.query(`UPDATE otp_codes SET verify_token_hash = $2 WHERE email = $1`, [email, tokenHash]);
  }

  /** Deletes the email's code; with `codeHash`, only if it is still that code (a newer send survives). */
  async delete(email: string, codeHash?: string, tx: EntityManager = this.dataSource.manager): Promise<void> {
    await tx.query(`DELETE FROM otp_codes WHERE email = $1 AND ($2::text IS NULL OR code_hash = $2)`, [email, codeHash ?? null]);
  }
}
