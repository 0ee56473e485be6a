import { readFileSync, readlinkSync, statSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname, uptime } from 'node:os';

/** How often a held lock's file is touched: a lock from another host is live while it is fresh. */
const HEARTBEAT_MS = 10_000;
/** A lock from another host untouched for this long is left over (its process is gone). */
export const STALE_MS = 30_000;
/** A lock file too young to hold its holder yet is being written, not left over. */
const WRITING_MS = 2_000;
/** How long a start waits for a lock from another host to go stale before refusing. */
const WAIT_MS = STALE_MS + 5_000;
const POLL_MS = 500;

/** The lock files this process holds: touched while it runs, removed when it exits. */
const held = new Set<string>();
let heartbeat: NodeJS.Timeout | null = null;

/**
 * Takes `file` (beside the embedded database's directory) for this process, or throws naming
 * the process that holds it. PGlite takes no lock of its own: a second process on the same
 * directory (a second `npm start`, the migration CLI beside a running server, a second container
 * on the same volume) can corrupt it. The holder is `pid@host/token` (host: THIS_HOST, the pid
 * namespace included), and the file is touched every HEARTBEAT_MS while held. A lock of this host is taken over when its process is gone (or
 * the host booted since); one of another host, or naming this process's own pid (a container
 * restarted), when it has not been touched for STALE_MS (a start waits that long for it). The same
 * process may take it again (its app restarted in-process, the tests). Taking one over is done
 * under `<file>.takeover`, so two processes starting at once cannot both take it.
 */
export function lockDataDir(file: string, options: { waitMs?: number } = {}): void {
  const deadline = Date.now() + (options.waitMs ?? WAIT_MS);
  for (;;) {
    if (tryCreate(file, MINE)) return hold(file);
    const holder = readHolder(file);
    if (holder === MINE) return hold(file);
    const verdict = judge(file, holder);
    if (verdict === 'gone' && takeOver(file, holder, MINE)) return hold(file);
    if (verdict === 'live' || (verdict === 'fresh' && Date.now() >= deadline)) {
      throw new Error(`The embedded database ${file.replace(/\.lock$/, '')} is in use by process ${holder?.split('/')[0]}: run one server (or migration command) per DATA_DIR at a time`);
    }
    sleep(POLL_MS);
  }
}

function tryCreate(file: string, holder: string): boolean {
  try {
    writeFileSync(file, holder, { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return false;
  }
}

/**
 * Whether the holder's process runs. On this host a signal 0 says, unless the lock predates the
 * host's boot (its pid may belong to anything now) or names this process's own pid (a container
 * restarted as pid 1, or another one sharing the host's names and the volume): then, as for another
 * host, a recent touch of the file says ('fresh': live until it goes stale).
 */
function judge(file: string, holder: string | null): 'live' | 'fresh' | 'gone' {
  const age = ageOf(file);
  if (age === null) return 'gone';
  if (!holder?.includes('@')) return age < WRITING_MS ? 'fresh' : 'gone';
  const fresh = age < STALE_MS ? 'fresh' : 'gone';
  if (!sameHost(holder)) return fresh;
  if (age > uptime() * 1000) return 'gone';
  const pid = Number(holder.split('@')[0]);
  if (!Number.isSafeInteger(pid) || pid <= 0) return 'gone';
  if (pid === process.pid) return fresh;
  try {
    process.kill(pid, 0);
    return 'live';
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? 'live' : 'gone';
  }
}

/** Replaces a left-over lock held by `holder`, under the takeover lock; false when another process got there first. */
function takeOver(file: string, holder: string | null, mine: string): boolean {
  const takeover = `${file}.takeover`;
  if (!tryCreate(takeover, mine)) {
    // A takeover that died half-way is cleared once old; a live one is waited for.
    if ((ageOf(takeover) ?? 0) > WRITING_MS) tryUnlink(takeover);
    return false;
  }
  try {
    if (readHolder(file) !== holder) return false;
    tryUnlink(file);
    return tryCreate(file, mine);
  } finally {
    tryUnlink(takeover);
  }
}

function hold(file: string): void {
  held.add(file);
  if (heartbeat) return;
  heartbeat = setInterval(() => {
    const now = new Date();
    for (const lock of held) {
      try {
        utimesSync(lock, now, now);
      } catch {
        held.delete(lock); // its directory was removed
      }
    }
  }, HEARTBEAT_MS);
  heartbeat.unref();
  process.once('exit', () => {
    for (const lock of held) if (readHolder(lock) === MINE) tryUnlink(lock);
  });
}

/**
 * Where this process's pids mean something: the host name and, on Linux, the pid namespace
 * (`pid:[4026531836]`). Two containers sharing the host's name (`--uts=host`, host networking)
 * and a volume each have their own pids: a signal 0 to the other's pid says nothing there.
 */
export const THIS_HOST = ((): string => {
  try {
    return `${hostname()}:${readlinkSync('/proc/self/ns/pid')}`;
  } catch {
    return hostname();
  }
})();

/** This process: its pid and host, and a token no other process has (pids repeat across containers and boots). */
const MINE = `${process.pid}@${THIS_HOST}/${randomBytes(6).toString('hex')}`;

const sameHost = (holder: string): boolean => holder.slice(holder.indexOf('@') + 1).split('/')[0] === THIS_HOST;

function readHolder(file: string): string | null {
  try {
    return readFileSync(file, 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/** Milliseconds since the file was last written or touched; null when it is gone. */
function ageOf(file: string): number | null {
  try {
    return Date.now() - statSync(file).mtimeMs;
  } catch {
    return null;
  }
}

function tryUnlink(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // Gone already.
  }
}

/** Start-up only: waits without returning to the event loop (the data source is described synchronously). */
function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
