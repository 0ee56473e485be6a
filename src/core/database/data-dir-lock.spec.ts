import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir, uptime } from 'node:os';
import { join } from 'node:path';
import { lockDataDir, STALE_MS, THIS_HOST } from './data-dir-lock';

describe('lockDataDir', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'h2v-lock-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const lock = () => join(dir, 'db.lock');
  /** This process's holder: its pid and host, then its own token. */
  const isMine = (holder: string) => holder.startsWith(`${process.pid}@${THIS_HOST}/`);
  /** Writes a lock as another holder did, last touched `ageMs` ago. */
  const heldBy = (holder: string, ageMs = 0) => {
    writeFileSync(lock(), holder);
    const at = new Date(Date.now() - ageMs);
    utimesSync(lock(), at, at);
  };

  it('takes a free lock for this process, and again for the same process', () => {
    lockDataDir(lock());
    expect(isMine(readFileSync(lock(), 'utf8'))).toBe(true);
    expect(() => lockDataDir(lock())).not.toThrow();
  });

  it('refuses a lock a live process of this host holds, naming it, and leaves it as it was', async () => {
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      heldBy(`${other.pid}@${THIS_HOST}/e5`);
      expect(() => lockDataDir(lock())).toThrow(`in use by process ${other.pid}@${THIS_HOST}`);
      expect(readFileSync(lock(), 'utf8')).toBe(`${other.pid}@${THIS_HOST}/e5`);
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('refuses a lock another host touched lately, once it has waited for it to go stale', () => {
    heldBy('1@elsewhere.example/f6');
    expect(() => lockDataDir(lock(), { waitMs: 600 })).toThrow('in use by process 1@elsewhere.example');
    expect(readFileSync(lock(), 'utf8')).toBe('1@elsewhere.example/f6');
  });

  it('takes over a lock whose process of this host is gone, one another host left untouched, and a left-over unreadable one', async () => {
    const gone = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    await new Promise((resolve) => gone.once('exit', resolve));
    for (const [holder, ageMs] of [[`${gone.pid}@${THIS_HOST}/a1`, 0], ['1@elsewhere.example/b2', STALE_MS + 1_000], ['garbage', 5_000]] as const) {
      heldBy(holder, ageMs);
      lockDataDir(lock());
      expect(isMine(readFileSync(lock(), 'utf8'))).toBe(true);
    }
    expect(existsSync(`${lock()}.takeover`)).toBe(false);
  });

  it('takes over a lock of a live pid written before the host booted (the pid was reused), not a fresh one', async () => {
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      heldBy(`${other.pid}@${THIS_HOST}/c3`, (uptime() + 60) * 1000);
      lockDataDir(lock());
      expect(isMine(readFileSync(lock(), 'utf8'))).toBe(true);
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('counts a lock naming this process\'s own pid with another token (a restarted container, or another sharing the names) as live while fresh', () => {
    heldBy(`${process.pid}@${THIS_HOST}/d4`);
    expect(() => lockDataDir(lock(), { waitMs: 600 })).toThrow(`in use by process ${process.pid}@${THIS_HOST}`);
    heldBy(`${process.pid}@${THIS_HOST}/d4`, STALE_MS + 1_000);
    lockDataDir(lock());
    expect(isMine(readFileSync(lock(), 'utf8'))).toBe(true);
  });

  it('judges a lock of the same host name in another pid namespace (a container sharing the host\'s names) by its freshness, not by a signal to its pid', async () => {
    const gone = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
    await new Promise((resolve) => gone.once('exit', resolve));
    // Its pid is no process here, but it may be one there: live while it is touched.
    heldBy(`${gone.pid}@${hostname()}:pid:[1]/g7`);
    expect(() => lockDataDir(lock(), { waitMs: 600 })).toThrow(`in use by process ${gone.pid}@${hostname()}:pid:[1]`);
    heldBy(`${gone.pid}@${hostname()}:pid:[1]/g7`, STALE_MS + 1_000);
    lockDataDir(lock());
    expect(isMine(readFileSync(lock(), 'utf8'))).toBe(true);
  });
});
