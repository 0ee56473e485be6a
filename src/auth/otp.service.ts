import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import disposableDomains from 'disposable-email-domains';
import disposableWildcards from 'disposable-email-domains/wildcard.json';
import { randomBytes, randomInt } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { AppConfig } from '../core/config/app-config';
import { SecretBox } from '../core/crypto/secret-box';
import { AppError } from '../core/errors';
import { JobQueue, QueueUnavailableError } from '../jobs/job-queue';
import { MailLocale } from '../mail/otp-mail.template';
import { UsersService } from '../users/users.service';
import { OtpBudgetsRepository, OtpLimits } from './otp-budgets.repository';
import { OtpRepository } from './otp.repository';

export const OTP_TTL_SECONDS = 600;
export const OTP_RESEND_SECONDS = 60;
export const OTP_MAX_ATTEMPTS = 5;
/** How long send-otp waits for the first delivery attempt before answering "pending". */
const FIRST_ATTEMPT_WAIT_MS = 4_000;

const DISPOSABLE = new Set<string>(disposableDomains as string[]);
const DISPOSABLE_PARENTS = new Set<string>(disposableWildcards as string[]);

export function isDisposable(email: string): boolean {
  const domain = email.slice(email.lastIndexOf('@') + 1);
  if (DISPOSABLE.has(domain)) return true;
  const labels = domain.split('.');
  return labels.some((_, i) => i > 0 && DISPOSABLE_PARENTS.has(labels.slice(i).join('.')));
}

/** What checking a code came to; errors are decided after the transaction commits the counter. */
export type CodeCheck = { ok: true } | { ok: false; error: AppError };

/**
 * One-time codes: 6 digits from a CSPRNG, stored as an HMAC with the server secret, 10-minute
 * lifetime, 60 s between sends, 5 wrong tries and the code is burned.
 *
 * Each email also has a budget that no new code and no client IP resets: OTP_SEND_LIMIT codes
 * and OTP_WRONG_CODE_LIMIT wrong codes per window (5 an hour, 20 a day by default). With the wrong
 * codes spent, sign-in for that email is locked until the window ends, and the answer names
 * that moment. A successful sign-in starts the budget over, so the owner's own typos never add
 * up against them. A burned code keeps its row until it expires, so the resend interval holds.
 */
@Injectable()
export class OtpService {
  private readonly limits: OtpLimits;

  constructor(
    private readonly codes: OtpRepository,
    private readonly budgets: OtpBudgetsRepository,
    private readonly box: SecretBox,
    private readonly jobs: JobQueue,
    private readonly users: UsersService,
    @InjectDataSource() private readonly dataSource: DataSource,
    config: AppConfig,
  ) {
    this.limits = { sends: config.values.otpSendLimit, wrongCodes: config.values.otpWrongCodeLimit };
  }

  /** Stores a new code and mails it. The answer is the same whether or not the email has an account. */
  async send(email: string, preferredLocale: MailLocale | null): Promise<{ status: 'pending'; delivered: boolean }> {
    if (isDisposable(email)) throw new AppError('DISPOSABLE_EMAIL');
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    const codeHash = this.box.hmac(code);
    // The budget row is locked first, so concurrent sends (and checks) of one email queue up.
    const refusal = await this.dataSource.transaction(async (tx): Promise<AppError | null> => {
      const budget = await this.budgets.lockForSend(tx, email, this.limits);
      if (budget.lockedUntil) return lockedOut(budget.lockedUntil);
      if (budget.sendsSpentUntil) return sendsSpent(budget.sendsSpentUntil);
      const wait = await this.codes.secondsUntilResend(tx, email, OTP_RESEND_SECONDS);
      if (wait > 0) return new AppError('OTP_TOO_SOON', `Please wait ${wait} s before requesting another code`, { retryAfter: wait });
      await this.codes.store(tx, email, codeHash, OTP_TTL_SECONDS);
      await this.budgets.recordSend(tx, email, this.limits.sends);
      return null;
    });
    if (refusal) throw refusal;

    const locale = (await this.users.localeOf(email)) ?? preferredLocale ?? 'en';
    const job = await this.jobs.add('send-otp-mail', { email, sealedCode: this.box.seal(code), codeHash, locale, lifetimeMinutes: OTP_TTL_SECONDS / 60 }).catch(async (error: unknown) => {
      if (!(error instanceof QueueUnavailableError)) throw error;
      await this.refund(email, codeHash);
      throw new AppError('EMAIL_SEND_FAILED', 'The code cannot be sent right now; try again shortly', { retryAfter: error.details.retryAfter }, 503);
    });
    const outcome = await job.waitForOutcome(FIRST_ATTEMPT_WAIT_MS);
    if (outcome === 'failed') {
      await this.refund(email, codeHash);
      throw new AppError('EMAIL_SEND_FAILED');
    }
    return { status: 'pending', delivered: outcome === 'completed' };
  }

  /**
   * Whether the code hashed `codeHash` may still sign the email in: not replaced by a newer send,
   * used, expired or burned. A mail job that waited in the queue (a worker down, a slow relay)
   * sends nothing otherwise: a dead code typed in would only cost the user a try.
   */
  async isLive(email: string, codeHash: string): Promise<boolean> {
    return this.codes.isLive(this.dataSource.manager, email, codeHash, OTP_MAX_ATTEMPTS);
  }

  /** Nothing was mailed: the user may ask again at once, and the code does not count against them. */
  private async refund(email: string, codeHash: string): Promise<void> {
    await this.dataSource.transaction(async (tx) => {
      await this.budgets.lockForSend(tx, email, this.limits);
      if (await this.codes.delete(tx, email, codeHash)) await this.budgets.refundSend(tx, email);
    });
  }

  /**
   * Checks a code (or the verify token handed out with NICKNAME_REQUIRED) for a locked, live OTP
   * row. A wrong one raises the code's counter and the email's budget in the same transaction;
   * the fifth on one code burns it (OTP_MAX_ATTEMPTS, then and at every try after it), the last of
   * the budget locks the email out.
   */
  async check(tx: EntityManager, email: string, credential: { code?: string; verifyToken?: string }): Promise<CodeCheck> {
    const budget = await this.budgets.lockForCheck(tx, email, this.limits);
    if (budget?.lockedUntil) return { ok: false, error: lockedOut(budget.lockedUntil) };
    const row = await this.codes.lockLive(tx, email, OTP_MAX_ATTEMPTS);
    if (!row) return { ok: false, error: new AppError('OTP_EXPIRED') };
    // A code used up by wrong tries says so until it expires, whatever is tried (and costs nothing more).
    if (row === 'burned') return { ok: false, error: new AppError('OTP_MAX_ATTEMPTS') };
    const ok = credential.code
      ? this.box.verify(credential.code, row.codeHash)
      : !!credential.verifyToken && !!row.verifyTokenHash && this.box.verify(credential.verifyToken, row.verifyTokenHash);
    if (ok) return { ok: true };

    const lockedUntil = await this.budgets.recordWrongCode(tx, email, this.limits.wrongCodes);
    const attempts = row.attempts + 1;
    const burned = lockedUntil !== null || attempts >= OTP_MAX_ATTEMPTS;
    await this.codes.setAttempts(tx, email, burned ? OTP_MAX_ATTEMPTS : attempts);
    if (lockedUntil) return { ok: false, error: lockedOut(lockedUntil) };
    if (burned) return { ok: false, error: new AppError('OTP_MAX_ATTEMPTS') };
    return { ok: false, error: new AppError('INVALID_CODE', `Wrong code; ${OTP_MAX_ATTEMPTS - attempts} tries left`) };
  }

  /** Keeps the code alive for the nickname step and returns a token that stands in for it. */
  async issueVerifyToken(tx: EntityManager, email: string): Promise<string> {
    const token = randomBytes(24).toString('base64url');
    await this.codes.setVerifyToken(tx, email, this.box.hmac(token));
    return token;
  }

  /** A used code can never be used again; signing in starts the email's budget over. */
  async consume(tx: EntityManager, email: string): Promise<void> {
    await this.codes.delete(tx, email);
    await this.budgets.clear(tx, email);
  }

  transaction<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(work);
  }
}

const secondsUntil = (moment: Date) => Math.max(1, Math.ceil((moment.getTime() - Date.now()) / 1000));

function lockedOut(until: Date): AppError {
  const lockedUntil = until.toISOString();
  return new AppError('OTP_LOCKED', `Too many wrong codes for this email; sign-in is locked until ${lockedUntil}`, { retryAfter: secondsUntil(until), lockedUntil });
}

function sendsSpent(until: Date): AppError {
  const lockedUntil = until.toISOString();
  return new AppError('OTP_SEND_LIMIT', `Too many codes sent to this email; use the latest one, or ask again after ${lockedUntil}`, {
    retryAfter: secondsUntil(until),
    lockedUntil,
  });
}
