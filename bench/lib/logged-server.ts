import { ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = join(__dirname, '..', '..', '..');

/**
 * The built server (`dist/src/<script>`) as a child process whose logs are kept, for the
 * benches that sign users up through the dev mailer (the OTP is read from the logs): the upload
 * and push benches. `npm run bench`'s own scenarios use ServerProcess (bench/lib/server.ts).
 */
export class LoggedServer {
  private readonly children: ChildProcess[] = [];
  private output = '';
  readonly url: string;

  constructor(
    private readonly env: Record<string, string>,
    readonly port: number,
    private readonly cwd = ROOT,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  /** Starts `dist/src/<script>` (main.js, or worker.js beside it) with the server's env and `extra`. */
  start(script = 'main.js', extra: Record<string, string> = {}): void {
    const child = spawn(process.execPath, [join(ROOT, 'dist', 'src', script)], {
      cwd: this.cwd,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...this.env, PORT: String(this.port), ...extra },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-200_000));
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.children.push(child);
  }

  async ready(): Promise<void> {
    for (let i = 0; i < 600; i++) {
      if (await fetch(`${this.url}/health`).then((r) => r.ok, () => false)) return;
      await sleep(100);
    }
    throw new Error(`server did not start:\n${this.output.slice(-2000)}`);
  }

  /** The one-time code the dev mailer logged for `email`. */
  async otp(email: string): Promise<string> {
    for (let i = 0; i < 400; i++) {
      const match = new RegExp(`OTP for ${email.replace(/[.+]/g, '\\$&')} is (\\d{6})`).exec(this.output);
      if (match) return match[1];
      await sleep(25);
    }
    throw new Error(`no OTP for ${email} in the logs`);
  }

  async stop(): Promise<void> {
    const running = this.children.filter((child) => child.exitCode === null);
    await Promise.all(running.map((child) => new Promise((resolve) => (child.once('exit', resolve), child.kill('SIGTERM')))));
  }
}
