import { ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';

/**
 * A load-generator (or fixture) process driven over IPC: each request gets exactly one reply.
 * Replies carry `{id, ok, result | error}`.
 */
export class Child {
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  private readonly exited: Promise<number | null>;

  private constructor(private readonly process: ChildProcess, readonly name: string) {
    process.on('message', (raw) => {
      const reply = raw as { id: number; ok: boolean; result?: unknown; error?: string };
      const waiter = this.waiting.get(reply.id);
      if (!waiter) return;
      this.waiting.delete(reply.id);
      if (reply.ok) waiter.resolve(reply.result);
      else waiter.reject(new Error(`${name}: ${reply.error}`));
    });
    this.exited = new Promise((resolve) =>
      process.once('exit', (code) => {
        for (const waiter of this.waiting.values()) waiter.reject(new Error(`${name} exited (${code})`));
        this.waiting.clear();
        resolve(code);
      }),
    );
  }

  /** Forks one of the compiled bench scripts (dist/bench/<script>.js). */
  static start(script: string, env: NodeJS.ProcessEnv = {}, execArgv: string[] = []): Child {
    const child = fork(join(__dirname, '..', `${script}.js`), [], { env: { ...process.env, ...env }, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Child(child, script);
  }

  get pid(): number {
    return this.process.pid!;
  }

  request<T>(command: string, args: unknown = {}): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.process.send({ id, command, args });
    });
  }

  async stop(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return;
    this.process.kill('SIGTERM');
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}

type Handler = (args: any) => Promise<unknown>;

/** The child side: answers each request with its handler's result; exits on `exit`. */
export function serve(handlers: Record<string, Handler>): void {
  process.on('message', (raw) => {
    const { id, command, args } = raw as { id: number; command: string; args: unknown };
    const handler = handlers[command];
    const run = handler ? handler(args) : Promise.reject(new Error(`unknown command ${command}`));
    run.then(
      (result) => process.send!({ id, ok: true, result }),
      (error: unknown) => process.send!({ id, ok: false, error: error instanceof Error ? error.stack ?? error.message : String(error) }),
    );
  });
  process.once('disconnect', () => process.exit(0));
}
