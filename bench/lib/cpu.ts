import { readdirSync, readFileSync } from 'node:fs';
import { fmt } from './report';

/** Kernel clock ticks per second (USER_HZ): 100 on every Linux this runs on. */
const TICKS_PER_SECOND = 100;

/** CPU time (user + system) a process has used so far, in ms; 0 once it is gone. */
export function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at field 3; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** The cluster's own processes: their work (WAL writes, checkpoints) belongs to whichever database caused it. */
const CLUSTER_PROCESS = /: (checkpointer|background writer|walwriter|autovacuum launcher|logical replication launcher|archiver)\s*$/;

/**
 * The PostgreSQL server processes of the local cluster that work for `database`: its backends
 * and autovacuum workers (their process title names the database) and the cluster's own
 * processes. Backends of other databases (other people's tests on a shared machine) are left out.
 */
function postgresPids(database: string): number[] {
  return readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      try {
        if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') return false;
        const title = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
        return !title.startsWith('postgres: ') || CLUSTER_PROCESS.test(title) || title.includes(` ${database} `);
      } catch {
        return false;
      }
    });
}

/** The local Redis server's process, when REDIS_URL names one on this machine (watchRedis). */
let redisPid: number | null = null;

/** `pid` (a Redis server's `process_id`, from INFO server) when that process runs on this machine as redis-server; null otherwise (a remote Redis). */
export function localRedisPid(pid: number | null): number | null {
  if (pid === null) return null;
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim().startsWith('redis-server') ? pid : null;
  } catch {
    return null;
  }
}

/** Counts the Redis server's CPU in every later measurement, when it runs on this machine (localRedisPid). */
export function watchRedis(pid: number | null): void {
  redisPid = localRedisPid(pid);
}

export interface CpuUse {
  /** CPU ms the server process (or processes) used during the run. */
  serverMs: number;
  /** CPU ms PostgreSQL used during the run: the database's backends and the cluster's own processes (WAL writer, checkpointer…). */
  postgresMs: number;
  /** CPU ms the Redis server used during the run (every client's work: on a quiet machine, the benchmark's), or null when it is not local. */
  redisMs: number | null;
}

/**
 * Measures the CPU the server, PostgreSQL and Redis spend on a run: unlike requests/s on a shared
 * 2-core machine, CPU per request barely moves with what else the machine is doing, so it
 * shows whether a change made a path cheaper even when the throughput figures are noisy.
 * PostgreSQL's share counts the backends of `database` (the benchmark's own) and the cluster's
 * shared processes, so other databases' work on the same cluster stays out of it (the shared
 * processes still carry a little of theirs).
 */
export async function measureCpu<T>(serverPids: number | number[], database: string, run: () => Promise<T>): Promise<{ result: T; cpu: CpuUse }> {
  const pids = Array.isArray(serverPids) ? serverPids : [serverPids];
  const pgBefore = new Map(postgresPids(database).map((pid) => [pid, cpuMsOf(pid)]));
  const serverBefore = pids.reduce((sum, pid) => sum + cpuMsOf(pid), 0);
  const redis = redisPid;
  const redisBefore = redis === null ? 0 : cpuMsOf(redis);
  const result = await run();
  const redisMs = redis === null ? null : cpuMsOf(redis) - redisBefore;
  const serverMs = pids.reduce((sum, pid) => sum + cpuMsOf(pid), 0) - serverBefore;
  // Backends that started during the run count from zero.
  const postgresMs = postgresPids(database).reduce((sum, pid) => sum + cpuMsOf(pid) - (pgBefore.get(pid) ?? 0), 0);
  return { result, cpu: { serverMs, postgresMs, redisMs } };
}

/** `server X µs, PostgreSQL Y µs[, Redis Z µs]`: each one's CPU per item of a run of `n` (`server` named as given). */
export function cpuPerItem(cpu: CpuUse, n: number, server = 'server'): string {
  const us = (ms: number) => fmt((ms * 1000) / n);
  return `${server} ${us(cpu.serverMs)} µs, PostgreSQL ${us(cpu.postgresMs)} µs${cpu.redisMs === null ? '' : `, Redis ${us(cpu.redisMs)} µs`}`;
}
