import { ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WsClient } from '../support/ws-client';

const MAIN = join(__dirname, '..', '..', 'dist', 'src', 'main.js');

/** Starts the built server as its own process (embedded mode) and resolves its port from the start-up line. */
function startServer(env: Record<string, string>): Promise<{ child: ChildProcess; port: number; output: () => string }> {
  if (!existsSync(MAIN)) throw new Error('dist/ is missing: `npm test` builds it first (npm run build)');
  const dataDir = mkdtempSync(join(tmpdir(), 'h2v-proc-'));
  const childEnv: NodeJS.ProcessEnv = { PATH: process.env.PATH, PORT: '0', DATA_DIR: dataDir, NODE_ENV: 'test', LOG_LEVEL: 'warn', ...env };
  const child = spawn(process.execPath, [MAIN], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  child.once('exit', () => rmSync(dataDir, { recursive: true, force: true }));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${output}`)), 40_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ child, port: -1, output: () => output + `\n(exit ${code})` });
    });
    child.stdout!.on('data', () => {
      const match = /"port":(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]), output: () => output });
      }
    });
  });
}

describe('the server process', () => {
  it('refuses to start on a malformed variable, naming it', async () => {
    const { port, output } = await startServer({ PORT: 'eighty', RATE_LIMIT_API: 'lots' });
    expect(port).toBe(-1);
    expect(output()).toMatch(/PORT/);
    expect(output()).toMatch(/RATE_LIMIT_API/);
    expect(output()).toMatch(/exit 1/);
  });

  it('shuts down on SIGTERM: sockets close with 1001 and the process exits within 10 s', async () => {
    const { child, port } = await startServer({});
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);
    const ws = await WsClient.connect(`ws://127.0.0.1:${port}/ws`);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const started = Date.now();
    child.kill('SIGTERM');
    expect((await ws.closed).code).toBe(1001);
    expect(await exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    // Start-up (PGlite, migrations) takes most of the budget on a busy 2-core machine.
  }, 60_000);
});
