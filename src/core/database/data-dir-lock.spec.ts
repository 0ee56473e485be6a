import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir, uptime } from 'node:os';
import { join } from 'node:path';
import { lockDataDir, STALE_MS } from './data-dir-lock';

describe('lockDataDir', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'h2v-lock-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const lock = () => join(dir, 'db.lock');
  /** This process's holder: its pid and host, then its own token. */
  const isMine = (holder: string) => holder.startsWith(`${process.pid}@${hostname()}/`);
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
      heldBy(`${other.pid}@${hostname()}/e5`);
      expect(() => lockDataDir(lock())).toThrow(`in use by process ${other.pid}@${hostname()}`);
      expect(readFileSync(lock(), 'utf8')).toBe(`${other.pid}@${hostname()}/e5`);
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
    for (const [holder, ageMs] of [[`${gone.pid}@${hostname()}/a1`, 0], ['1@elsewhere.example/b2', STALE_MS + 1_000], ['garbage', 5_000]] as const) {
      heldBy(holder, ageMs);
      lockDataDir(lock());
      expect(isMine(readFileSync(lock(), 'utf8'))).toBe(true);
    }
    expect(existsSync(`${lock()}.takeover`)).toBe(false);
  });

  it('takes over a lock of a live pid written before the host booted (the pid was reused), not a fresh one', async () => {
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'], { stdio: 'ignore' });
    try {
      heldBy(`${other.pid}@${hostname()}/c3`, (uptime() + 60) * 1000);
      lockDataDir(lock());
      expect(isMine(readFileSync(lock(), 'utf8'))).toBe(true);
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('counts a lock naming this process\'s own pid with another token (a restarted container, or another sharing the names) as live while fresh', () => {
    heldBy(`${process.pid}@${hostname()}/d4`);
    expect(() => lockDataDir(lock(), { waitMs: 600 })).toThrow(`in use by process ${process.pid}@${hostname()}`);
    heldBy(`${process.pid}@${hostname()}/d4`, STALE_MS + 1_000);
    lockDataDir(lock());
    expect(isMine(readFileSync(lock(), 'utf8'))).toBe(true);
  });
});
