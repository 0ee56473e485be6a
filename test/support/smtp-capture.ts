import { simpleParser, ParsedMail } from 'mailparser';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface CapturedMail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/**
 * A real SMTP server inside the test: the app delivers OTP mail to it over TCP, the test reads
 * it back. `reject(address)` makes it refuse that recipient with a permanent 550.
 */
export class SmtpCapture {
  private server!: SMTPServer;
  private readonly mails: CapturedMail[] = [];
  private readonly waiters: Array<{ to: string; resolve: (mail: CapturedMail) => void }> = [];
  private readonly rejected = new Set<string>();
  port = 0;

  async start(): Promise<this> {
    this.server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      logger: false,
      onRcptTo: (address, _session, callback) => {
        if (this.rejected.has(address.address.toLowerCase())) {
          const error = Object.assign(new Error('Mailbox unavailable'), { responseCode: 550 });
          return callback(error);
        }
        callback();
      },
      onData: (stream, _session, callback) => {
        simpleParser(stream)
          .then((parsed: ParsedMail) => {
            const to = [parsed.to].flat().flatMap((a) => a?.value ?? []).map((a) => (a.address ?? '').toLowerCase());
            for (const address of to) this.accept({ to: address, subject: parsed.subject ?? '', text: parsed.text ?? '', html: String(parsed.html || '') });
            callback();
          })
          .catch(callback);
      },
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  reject(address: string): void {
    this.rejected.add(address.toLowerCase());
  }

  unreject(address: string): void {
    this.rejected.delete(address.toLowerCase());
  }

  /** Resolves with the next mail to `to` (one already received and not yet taken counts). */
  next(to: string, timeoutMs = 10_000): Promise<CapturedMail> {
    const address = to.toLowerCase();
    const index = this.mails.findIndex((m) => m.to === address);
    if (index >= 0) return Promise.resolve(this.mails.splice(index, 1)[0]);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no mail to ${to} within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({ to: address, resolve: (mail) => (clearTimeout(timer), resolve(mail)) });
    });
  }

  /** The 6-digit code of the next OTP mail to `to`. */
  async code(to: string): Promise<string> {
    const mail = await this.next(to);
    const match = /\b(\d{6})\b/.exec(mail.text);
    if (!match) throw new Error(`no code in mail to ${to}: ${mail.text}`);
    return match[1];
  }

  count(to: string): number {
    return this.mails.filter((m) => m.to === to.toLowerCase()).length;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(mail: CapturedMail): void {
    const waiter = this.waiters.findIndex((w) => w.to === mail.to);
    if (waiter >= 0) this.waiters.splice(waiter, 1)[0].resolve(mail);
    else this.mails.push(mail);
  }
}
