import { ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '..', '..', '..');
/** Open files wanted by a server process: 20,000 sockets plus the pools, logs and listeners. */
const WANTED_FILES = 21_000;

/**
 * Runs `node args…` through sh, raising the soft and hard open-file limit first as far as
 * this machine allows (raising a hard limit needs CAP_SYS_RESOURCE; without it the current
 * hard limit is the ceiling). exec keeps the pid, so /proc/<pid> is the node process.
 */
function spawnNode(args: string[], options: Parameters<typeof spawn>[2]): ChildProcess {
  const raise = `ulimit -n ${WANTED_FILES} 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$0" "$@"`;
  return spawn('/bin/sh', ['-c', raise, process.execPath, ...args], options);
}

/** A process under test (the app or the baseline relay) listening on a loopback port. */
export class ServerProcess {
  private readonly exited: Promise<void>;
  private output = '';
  private readonly listeners: Array<(text: string) => void> = [];

  private constructor(
    private readonly child: ChildProcess,
    readonly name: string,
    readonly port: number,
    private readonly cleanup: () => void,
  ) {
    const keep = (chunk: Buffer) => {
      const text = chunk.toString();
      this.output = (this.output + text).slice(-8_000);
      for (const listener of this.listeners) listener(text);
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.exited = new Promise((done) =>
      child.once('exit', (code, signal) => {
        this.exitedAs = signal ?? `code ${code}`;
        done();
      }),
    );
  }

  /** How the process ended, once it has (a signal name or `code n`); null while it runs. */
  exitedAs: string | null = null;

  /**
   * The H2V server: `node dist/src/main.js` from a scratch directory (so no developer .env is read).
   * BENCH_APP_MAIN runs another build instead (an A/B comparison on the same machine, same load).
   */
  static async app(name: string, port: number, env: Record<string, string>, nodeArgs: string[] = []): Promise<ServerProcess> {
    const cwd = mkdtempSync(join(tmpdir(), 'h2v-bench-'));
    const child = spawnNode([...nodeArgs, process.env.BENCH_APP_MAIN ?? join(ROOT, 'dist', 'src', 'main.js')], {
      cwd,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, PORT: String(port), DATA_DIR: cwd, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const server = new ServerProcess(child, name, port, () => rmSync(cwd, { recursive: true, force: true }));
    await server.waitHealthy('/health');
    return server;
  }

  /** The plain `ws` relay of bench/baseline. */
  static async relay(port: number, chatsFile: string): Promise<ServerProcess> {
    const child = spawnNode([join(ROOT, 'dist', 'bench', 'baseline', 'ws-relay.js')], {
      env: { PATH: process.env.PATH, PORT: String(port), RELAY_CHATS: chatsFile },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const server = new ServerProcess(child, 'relay', port, () => undefined);
    await server.waitHealthy('/health');
    return server;
  }

  /** The bare `node:http` server of bench/baseline (scenario 4's baseline). */
  static bare(port: number): Promise<ServerProcess> {
    return ServerProcess.baseline('http-bare', port);
  }

  /** Bare Express 5 answering the same JSON (scenario 4's calibration of the framework alone). */
  static bareExpress(port: number): Promise<ServerProcess> {
    return ServerProcess.baseline('http-express', port);
  }

  private static async baseline(name: string, port: number): Promise<ServerProcess> {
    const child = spawnNode([join(ROOT, 'dist', 'bench', 'baseline', `${name}.js`)], {
      env: { PATH: process.env.PATH, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const server = new ServerProcess(child, name, port, () => undefined);
    await server.waitHealthy('/health');
    return server;
  }

  get pid(): number {
    return this.child.pid!;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get wsUrl(): string {
    return `ws://127.0.0.1:${this.port}/ws`;
  }

  /** Resident memory of the process in KiB, from /proc. */
  rssKb(): number {
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  }

  /** The process's open-file limit (soft), from /proc. */
  fileLimit(): number {
    const limits = readFileSync(`/proc/${this.pid}/limits`, 'utf8');
    return Number(/Max open files\s+(\d+)/.exec(limits)?.[1] ?? NaN);
  }

  private async waitHealthy(path: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`${this.name} exited during start-up:\n${this.output}`);
      try {
        const response = await fetch(this.url + path);
        if (response.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`${this.name} did not answer ${path} within 60 s:\n${this.output}`);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 12_000);
      await this.exited;
      clearTimeout(timer);
    }
    this.cleanup();
  }

  /** SIGKILL, as a crash: no shutdown hook runs and sockets are reset. Resolves once the process is gone. */
  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    this.cleanup();
  }

  /** Everything the process prints from now on (stdout and stderr, in chunks as they come). */
  onOutput(listener: (text: string) => void): void {
    this.listeners.push(listener);
  }

  /** The last lines the process printed, for error reports. */
  tail(): string {
    return this.output;
  }
}
