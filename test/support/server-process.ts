import { ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TEST_DATABASE_URL } from './env';

const REPO_ROOT = join(__dirname, '..', '..');

/** The built server's entry point (`npm test` builds dist/ before jest runs). */
export const SERVER_MAIN = join(REPO_ROOT, 'dist', 'src', 'main.js');

/**
 * `it` for a test of the built server in the embedded mode whatever the run's services (it spawns
 * the server without DATABASE_URL or REDIS_URL): such a test checks the same thing in both runs,
 * so it runs in the embedded one only (`npm test` with no services; CI runs both) and is skipped,
 * named as such, in the PostgreSQL one.
 */
export const itEmbeddedServer: jest.It = TEST_DATABASE_URL ? it.skip : it;

export interface ServerChild {
  child: ChildProcess;
  port: number;
  url: string;
  wsUrl: string;
  /** Everything the process printed so far (stdout and stderr). */
  output: () => string;
}

/**
 * Starts the built server as its own process (`command`, default `node dist/src/main.js`, run
 * from the repository's root) with exactly `env` (plus PORT=0 unless given) and
 * resolves once its start-up line names the port it listens on. Rejects, with what it printed,
 * when it exits first (`server exited (<code>)`) or does not start within `timeoutMs`.
 */
export function spawnServer(env: NodeJS.ProcessEnv, timeoutMs = 90_000, command: [string, string[]] = [process.execPath, [SERVER_MAIN]]): Promise<ServerChild> {
  if (!existsSync(SERVER_MAIN)) throw new Error('dist/ is missing: `npm test` builds it first (npm run build)');
  const child = spawn(command[0], command[1], { cwd: REPO_ROOT, env: { PORT: '0', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${output}`)), timeoutMs);
    const read = (d: Buffer) => {
      output += d;
      const match = /"port":(\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        const port = Number(match[1]);
        resolve({ child, port, url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}/ws`, output: () => output });
      }
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}): ${output}`));
    });
  });
}
