import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import disposableDomains from 'disposable-email-domains';
import disposableWildcards from 'disposable-email-domains/wildcard.json';
import { randomBytes, randomInt } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { SecretBox } from '../core/crypto/secret-box';
import { AppError } from '../core/errors';
import { JobQueue, QueueUnavailableError } from '../jobs/job-queue';
import { MailLocale } from '../mail/otp-mail.template';
import { UsersService } from '../users/users.service';
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
 * lifetime, 60 s between sends, 5 wrong tries and the code is gone.
 */
@Injectable()
export class OtpService {
  constructor(
    private readonly codes: OtpRepository,
    private readonly box: SecretBox,
    private readonly jobs: JobQueue,
    private readonly users: UsersService,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  /** Stores a new code and mails it. The answer is the same whether or not the email has an account. */
  async send(email: string, preferredLocale: MailLocale | null): Promise<{ status: 'pending'; delivered: boolean }> {
    if (isDisposable(email)) throw new AppError('DISPOSABLE_EMAIL');
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    const codeHash = this.box.hmac(code);
    const tooSoon = await this.codes.replaceIfDue(email, codeHash, OTP_TTL_SECONDS, OTP_RESEND_SECONDS);
    if (tooSoon) throw new AppError('OTP_TOO_SOON', `Please wait ${tooSoon.retryAfter} s before requesting another code`, { retryAfter: tooSoon.retryAfter });

    const locale = (await this.users.localeOf(email)) ?? preferredLocale ?? 'en';
    const job = await this.jobs.add('send-otp-mail', { email, sealedCode: this.box.seal(code), locale, lifetimeMinutes: OTP_TTL_SECONDS / 60 }).catch(async (error: unknown) => {
      if (!(error instanceof QueueUnavailableError)) throw error;
      await this.codes.delete(email, codeHash); // nothing will be mailed: the user may ask again at once
      throw new AppError('EMAIL_SEND_FAILED', 'The code cannot be sent right now; try again shortly', { retryAfter: error.details.retryAfter }, 503);
    });
    const outcome = await job.waitForOutcome(FIRST_ATTEMPT_WAIT_MS);
    if (outcome === 'failed') {
      await this.codes.delete(email, codeHash); // the user may ask again at once
      throw new AppError('EMAIL_SEND_FAILED');
    }
    return { status: 'pending', delivered: outcome === 'completed' };
  }

  /**
   * Checks a code (or the verify token handed out with NICKNAME_REQUIRED) for a locked, live OTP
   * row. A wrong one raises the counter in the same transaction; the fifth deletes the code.
   */
  async check(tx: EntityManager, email: string, credential: { code?: string; verifyToken?: string }): Promise<CodeCheck> {
    const row = await this.codes.lockLive(tx, email);
    if (!row) return { ok: false, error: new AppError('OTP_EXPIRED') };
    const ok = credential.code
      ? this.box.verify(credential.code, row.codeHash)
      : !!credential.verifyToken && !!row.verifyTokenHash && this.box.verify(credential.verifyToken, row.verifyTokenHash);
    if (ok) return { ok: true };
    const attempts = row.attempts + 1;
    if (attempts >= OTP_MAX_ATTEMPTS) {
      await this.codes.delete(email, undefined, tx);
      return { ok: false, error: new AppError('OTP_MAX_ATTEMPTS') };
    }
    await this.codes.setAttempts(tx, email, attempts);
    return { ok: false, error: new AppError('INVALID_CODE', `Wrong code; ${OTP_MAX_ATTEMPTS - attempts} tries left`) };
  }

  /** Keeps the code alive for the nickname step and returns a token that stands in for it. */
  async issueVerifyToken(tx: EntityManager, email: string): Promise<string> {
    const token = randomBytes(24).toString('base64url');
    await this.codes.setVerifyToken(tx, email, this.box.hmac(token));
    return token;
  }

  /** A used code can never be used again. */
  consume(tx: EntityManager, email: string): Promise<void> {
    return this.codes.delete(email, undefined, tx);
  }

  transaction<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(work);
  }
}
