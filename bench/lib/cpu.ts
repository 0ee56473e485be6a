import { readdirSync, readFileSync } from 'node:fs';

/** Kernel clock ticks per second (USER_HZ): 100 on every Linux this runs on. */
const TICKS_PER_SECOND = 100;

/** CPU time (user + system) a process has used so far, in ms; 0 once it is gone. */
function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at field 3; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Every PostgreSQL server process on this machine (the local cluster the benchmark uses). */
function postgresPids(): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres';
      } catch {
        return false;
      }
    });
}

export interface CpuUse {
  /** CPU ms the server process used during the run. */
  serverMs: number;
  /** CPU ms all PostgreSQL processes used during the run (backends, WAL writer, checkpointer…). */
  postgresMs: number;
}

/**
 * Measures the CPU the server and PostgreSQL spend on a run: unlike requests/s on a shared
 * 2-core machine, CPU per request barely moves with what else the machine is doing, so it
 * shows whether a change made a path cheaper even when the throughput figures are noisy.
 */
export async function measureCpu<T>(serverPid: number, run: () => Promise<T>): Promise<{ result: T; cpu: CpuUse }> {
  const pgBefore = new Map(postgresPids().map((pid) => [pid, cpuMsOf(pid)]));
  const serverBefore = cpuMsOf(serverPid);
  const result = await run();
  const serverMs = cpuMsOf(serverPid) - serverBefore;
  // Backends that started during the run count from zero.
  const postgresMs = postgresPids().reduce((sum, pid) => sum + cpuMsOf(pid) - (pgBefore.get(pid) ?? 0), 0);
  return { result, cpu: { serverMs, postgresMs } };
}
