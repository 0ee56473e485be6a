import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { lockDataDir, STALE_MS } from './data-dir-lock';

describe('lockDataDir', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'h2v-lock-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const lock = () => join(dir, 'db.lock');
  const mine = () => `${process.pid}@${hostname()}`;
  /** Writes a lock as another holder did, last touched `ageMs` ago. */
  const heldBy = (holder: string, ageMs = 0) => {
    writeFileSync(lock(), holder);
    const at = new Date(Date.now() - ageMs);
    utimesSync(lock(), at, at);
  };

  it('takes a free lock for this process, and again for the same process', () => {
    lockDataDir(lock());
    expect(readFileSync(lock(), 'utf8')).toBe(mine());
    expect(() => lockDataDir(lock())).not.toThrow();
  });

  it('refuses a lock a live process of this host holds, naming it, and leaves it as it was', async () => {
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      heldBy(`${other.pid}@${hostname()}`);
      expect(() => lockDataDir(lock())).toThrow(`in use by process ${other.pid}@${hostname()}`);
      expect(readFileSync(lock(), 'utf8')).toBe(`${other.pid}@${hostname()}`);
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('refuses a lock another host touched lately, once it has waited for it to go stale', () => {
    heldBy('1@elsewhere.example');
    expect(() => lockDataDir(lock(), { waitMs: 600 })).toThrow('in use by process 1@elsewhere.example');
    expect(readFileSync(lock(), 'utf8')).toBe('1@elsewhere.example');
  });

  it('takes over a lock whose process of this host is gone, one another host left untouched, and a left-over unreadable one', async () => {
    const gone = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    await new Promise((resolve) => gone.once('exit', resolve));
    for (const [holder, ageMs] of [[`${gone.pid}@${hostname()}`, 0], ['1@elsewhere.example', STALE_MS + 1_000], ['garbage', 5_000]] as const) {
      heldBy(holder, ageMs);
      lockDataDir(lock());
      expect(readFileSync(lock(), 'utf8')).toBe(mine());
    }
    expect(existsSync(`${lock()}.takeover`)).toBe(false);
  });
});
