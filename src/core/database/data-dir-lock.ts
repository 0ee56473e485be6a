import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';

/** The lock files this process holds: released when it exits. */
const held = new Set<string>();
let releasing = false;

/**
 * Takes `file` (beside the embedded database's directory) for this process, or throws naming
 * the process that holds it. PGlite takes no lock of its own: a second process on the same
 * directory (a second `npm start`, the migration CLI beside a running server) can corrupt it.
 * A lock left by a process that is gone (killed, crashed) is taken over; so is one written on
 * another host, whose process cannot be checked (a container's new name after a restart).
 * The same process may take it again (its app restarted in-process, the tests).
 */
export function lockDataDir(file: string): void {
  const mine = `${process.pid}@${hostname()}`;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      writeFileSync(file, mine, { flag: 'wx' });
      return hold(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = readHolder(file);
    if (holder === mine) return hold(file);
    if (holder && isLive(holder)) {
      throw new Error(`The embedded database ${file.replace(/\.lock$/, '')} is in use by process ${holder.split('@')[0]}: run one server (or migration command) per DATA_DIR at a time`);
    }
    // Gone: replace it atomically (a link fails if another process replaced it first; then look again).
    const claim = `${file}.${process.pid}`;
    writeFileSync(claim, mine);
    try {
      if (readHolder(file) === holder) unlinkSync(file);
      linkSync(claim, file);
      return hold(file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST' && code !== 'ENOENT') throw error;
    } finally {
      unlinkSync(claim);
    }
  }
  throw new Error(`Could not take the lock ${file}`);
}

function hold(file: string): void {
  held.add(file);
  if (held.size === 1 && !releasing) {
    releasing = true;
    process.once('exit', () => {
      for (const lock of held) if (readHolder(lock) === `${process.pid}@${hostname()}`) tryUnlink(lock);
    });
  }
}

function readHolder(file: string): string | null {
  try {
    return readFileSync(file, 'utf8').trim() || null;
  } catch {
    return null;
  }
}

/** Whether the holder's process runs: on this host, a signal 0 says; on another, nothing can. */
function isLive(holder: string): boolean {
  const [pid, host] = holder.split('@');
  if (host !== hostname()) return false;
  const id = Number(pid);
  if (!Number.isSafeInteger(id) || id <= 0) return false;
  try {
    process.kill(id, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function tryUnlink(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    // Gone already (its directory removed).
  }
}
