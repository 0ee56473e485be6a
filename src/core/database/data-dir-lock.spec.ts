import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { lockDataDir } from './data-dir-lock';

describe('lockDataDir', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'h2v-lock-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const lock = () => join(dir, 'db.lock');

  it('takes a free lock for this process, and again for the same process', () => {
    lockDataDir(lock());
    expect(readFileSync(lock(), 'utf8')).toBe(`${process.pid}@${hostname()}`);
    expect(() => lockDataDir(lock())).not.toThrow();
  });

  it('refuses a lock a live process of this host holds, naming it, and leaves it as it was', async () => {
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      writeFileSync(lock(), `${other.pid}@${hostname()}`);
      expect(() => lockDataDir(lock())).toThrow(`in use by process ${other.pid}`);
      expect(readFileSync(lock(), 'utf8')).toBe(`${other.pid}@${hostname()}`);
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('takes over a lock whose process is gone, or that another host wrote', async () => {
    const gone = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    await new Promise((resolve) => gone.once('exit', resolve));
    for (const holder of [`${gone.pid}@${hostname()}`, `1@elsewhere-${hostname()}`, 'garbage']) {
      writeFileSync(lock(), holder);
      lockDataDir(lock());
      expect(readFileSync(lock(), 'utf8')).toBe(`${process.pid}@${hostname()}`);
    }
    expect(existsSync(`${lock()}.${process.pid}`)).toBe(false);
  });
});
