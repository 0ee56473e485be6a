import type { MailerService } from '@nestjs-modules/mailer';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AppConfig } from '../core/config/app-config';
import { SecretBox } from '../core/crypto/secret-box';
import type { OtpService } from '../auth/otp.service';
import { PermanentJobError } from '../jobs/job-queue';
import { OtpMailProcessor } from './otp-mail.processor';

describe('OtpMailProcessor', () => {
  const box = new SecretBox('s'.repeat(32));
  const email = 'bob.private@example.com';
  const failingWith = (error: Error) =>
    new OtpMailProcessor({ sendMail: async () => Promise.reject(error) } as unknown as MailerService, { values: { smtpUrl: 'smtp://mail' } } as AppConfig, box, live);
  const live = { isLive: async () => true } as unknown as OtpService;
  const job = { email, sealedCode: box.seal('123456'), locale: 'en' as const, lifetimeMinutes: 10 };
  const refusal = (responseCode: number) =>
    Object.assign(new Error(`Can't send mail - all recipients were rejected: ${responseCode} <${email}>: Recipient address rejected`), { responseCode, code: 'EENVELOPE' });

  it('fails a mail the server refuses for now (4xx) to be retried, naming the code and not the address the reply quotes', async () => {
    const failure = await failingWith(refusal(450)).deliver(job).catch((error: Error) => error);
    expect(failure).toBeInstanceOf(Error);
    expect(failure).not.toBeInstanceOf(PermanentJobError);
    expect((failure as Error).message).toBe('SMTP refused the mail for now (450)');
  });

  it('fails a mail the server refuses for good (5xx) permanently', async () => {
    const failure = await failingWith(refusal(550)).deliver(job).catch((error: Error) => error);
    expect(failure).toBeInstanceOf(PermanentJobError);
    expect((failure as Error).message).not.toContain(email);
  });

  it('names an envelope refusal by its code, and keeps the words of connection trouble (they name no one)', async () => {
    const envelope = await failingWith(Object.assign(new Error(`Invalid recipient <${email}>`), { code: 'EENVELOPE' })).deliver(job).catch((error: Error) => error);
    expect((envelope as Error).message).toBe('SMTP refused the envelope (EENVELOPE)');
    const refused = await failingWith(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:587'), { code: 'ESOCKET' })).deliver(job).catch((error: Error) => error);
    expect((refused as Error).message).toBe('connect ECONNREFUSED 127.0.0.1:587');
  });

  it('keeps the development copy of a mail (no SMTP_URL) readable by its own user only: it holds a live sign-in code', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'h2v-mail-'));
    try {
      // A mail directory an earlier release made with the umask's permissions.
      mkdirSync(join(dataDir, 'mail'), { mode: 0o755 });
      const mailer = { sendMail: async () => ({ message: Buffer.from('Subject: code') }) } as unknown as MailerService;
      const processor = new OtpMailProcessor(mailer, { values: { smtpUrl: null, dataDir } } as unknown as AppConfig, box, live);
      jest.spyOn((processor as unknown as { logger: { warn: () => void } }).logger, 'warn').mockImplementation(() => undefined);
      await processor.deliver(job);
      const [copy] = readdirSync(join(dataDir, 'mail'));
      expect(statSync(join(dataDir, 'mail', copy)).mode & 0o077).toBe(0);
      expect(statSync(join(dataDir, 'mail')).mode & 0o077).toBe(0);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
