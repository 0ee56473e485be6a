import { Injectable, Logger } from '@nestjs/common';
import { MailerService } from '@nestjs-modules/mailer';
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { OtpService } from '../auth/otp.service';
import { AppConfig } from '../core/config/app-config';
import { SecretBox } from '../core/crypto/secret-box';
import { JobHandler } from '../jobs/job-handler.decorator';
import { PermanentJobError } from '../jobs/job-queue';
import { MailLocale, otpMail } from './otp-mail.template';

export interface OtpMailJob {
  email: string;
  /** The code sealed with the server secret: the queue never holds it readable. */
  sealedCode: string;
  /** The code's HMAC as otp_codes holds it: mailed only while that is the email's live code (absent in jobs of earlier releases). */
  codeHash?: string;
  locale: MailLocale;
  lifetimeMinutes: number;
}

declare module '../jobs/job-names' {
  interface JobPayloads {
    'send-otp-mail': OtpMailJob;
  }
}

/**
 * Delivers OTP mail over SMTP. A refusal by the server (5xx) is permanent and fails the job at
 * once; a refusal for now (4xx) and connection trouble are retried with backoff. A refusal is
 * named by its code, never by the server's reply (which quotes the address). A code that is no
 * longer live when its job runs (replaced, used, expired or burned while the job waited) is not
 * mailed. Without SMTP_URL (development only) the mail is written to DATA_DIR/mail/*.eml and
 * the code to the log.
 */
@Injectable()
export class OtpMailProcessor {
  private readonly logger = new Logger('Mail');

  constructor(
    private readonly mailer: MailerService,
    private readonly config: AppConfig,
    private readonly box: SecretBox,
    private readonly otp: OtpService,
  ) {}

  @JobHandler('send-otp-mail')
  async deliver(job: OtpMailJob): Promise<void> {
    if (job.codeHash && !(await this.otp.isLive(job.email, job.codeHash))) {
      this.logger.log('OTP mail not sent: its code was replaced, used or expired while the job waited');
      return;
    }
    const mail = otpMail(this.box.open(job.sealedCode), job.locale, job.lifetimeMinutes);
    let info: { message?: Buffer | string };
    try {
      info = await this.mailer.sendMail({ to: job.email, ...mail });
    } catch (error) {
      // A server's reply (and an envelope error) quotes the recipient's address, and the queue
      // logs each failed attempt: those are named by their codes alone. Connection trouble (a
      // refused connection, a bad certificate, a timeout) keeps its words, which name no one.
      const { responseCode, code } = error as { responseCode?: number; code?: string };
      if (responseCode && responseCode >= 500) throw new PermanentJobError(`SMTP refused the mail (${responseCode})`);
      if (responseCode) throw new Error(`SMTP refused the mail for now (${responseCode})`);
      if (code === 'EENVELOPE') throw new Error('SMTP refused the envelope (EENVELOPE)');
      throw error;
    }
    if (!this.config.values.smtpUrl) await this.keepDevelopmentCopy(job.email, info.message, this.box.open(job.sealedCode));
  }

  private async keepDevelopmentCopy(email: string, message: Buffer | string | undefined, code: string): Promise<void> {
    // A copy holds a live sign-in code: readable by this process's user only, as the development secret is.
    const dir = join(this.config.values.dataDir, 'mail');
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    const file = join(dir, `${Date.now()}-${email.replace(/[^\w.@-]/g, '_')}.eml`);
    await writeFile(file, message ?? '', { mode: 0o600 });
    this.logger.warn(`development mail (no SMTP_URL): OTP for ${email} is ${code} — ${file}`);
  }
}
