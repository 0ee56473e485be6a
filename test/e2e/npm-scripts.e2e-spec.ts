import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../support/factories';
import { itEmbeddedServer, spawnServer } from '../support/server-process';

/**
 * The package's start scripts as a process manager runs them (systemd with KillMode=process, pm2,
 * a container whose command is npm): it signals npm's own pid, not the process group. npm passes
 * the signal to its child, the shell running the script, so the script must `exec` node: a shell
 * that runs node as its child dies and leaves the server orphaned, still listening and holding the
 * embedded database's lock.
 */
describe('npm start scripts', () => {
  itEmbeddedServer('npm run start:prod: a SIGTERM to npm alone stops the server and frees its data directory', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'h2v-npm-'));
    const lock = join(dataDir, 'db.lock');
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    try {
      const { child, url } = await spawnServer({ PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir, NODE_ENV: 'test', LOG_LEVEL: 'warn' }, 90_000, [
        npm,
        ['run', '--silent', 'start:prod'],
      ]);
      expect((await fetch(`${url}/health`)).status).toBe(200);
      expect(existsSync(lock)).toBe(true);
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      await eventually(async () => {
        expect(existsSync(lock)).toBe(false);
        await expect(fetch(`${url}/health`)).rejects.toThrow();
      }, 15_000);
    } finally {
      // An orphaned server (the fault this guards against) is stopped by the pid its lock names.
      if (existsSync(lock)) {
        const pid = Number(readFileSync(lock, 'utf8').split('@')[0]);
        if (Number.isSafeInteger(pid) && pid > 0) process.kill(pid, 'SIGKILL');
      }
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});
