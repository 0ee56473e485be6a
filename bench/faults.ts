import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Child } from './lib/child';
import { freePort } from './lib/context';
import { fmt } from './lib/report';
import { benchAppEnv, checkServices, Cleanups, MissingServices, scratchBackend, Sql } from './lib/services';
import { runMain, saveResults } from './lib/results';
import { Cluster } from './faults/cluster';
import { RouteFigures } from './faults/reader';
import { CheckOutcome } from './faults/recovery';
import { RunResult, RunSpec, runFault, Timing } from './faults/scenario';

/**
 * `npm run bench:faults [-- --only=redis-30,kill-9] [-- --rate=20] [-- --blackhole] [-- --keep-db]`:
 * two instances of the server on a fresh database and Redis prefix, each through proxies that
 * can cut it off Redis or PostgreSQL; careful clients (outbox, retries with the same
 * clientMessageId, reconnects) send through a fault per run; every message is then counted
 * against the database. Writes bench/results/<ISO date>-faults.json and prints the tables.
 * Exits 1 when an acknowledged message is not stored or a message is stored twice, else 0
 * (2 when PostgreSQL or Redis is missing).
 */

const ROOT = resolve(__dirname, '..', '..');
const RUNS: RunSpec[] = [
  { id: 'baseline', title: 'no fault', fault: { kind: 'none' } },
  { id: 'kill-9', title: 'kill -9 of one instance, restarted 5 s later', fault: { kind: 'kill', instance: 1, downSeconds: 5 } },
  { id: 'redis-5', title: 'Redis cut for 5 s', fault: { kind: 'redis', seconds: 5 } },
  { id: 'redis-15', title: 'Redis cut for 15 s', fault: { kind: 'redis', seconds: 15 } },
  { id: 'redis-30', title: 'Redis cut for 30 s', fault: { kind: 'redis', seconds: 30 } },
  { id: 'postgres-5', title: 'PostgreSQL cut for 5 s', fault: { kind: 'postgres', seconds: 5 } },
  { id: 'postgres-15', title: 'PostgreSQL cut for 15 s', fault: { kind: 'postgres', seconds: 15 } },
];
/** The p99 a route must keep during a Redis cut. */
const REDIS_CUT_P99_MS = 2_000;

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const option = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const only = option('only')?.split(',');
  const unknown = only?.filter((id) => !RUNS.some((r) => r.id === id));
  if (unknown?.length) {
    console.error(`unknown run(s) ${unknown.join(', ')}; runs: ${RUNS.map((r) => r.id).join(', ')}`);
    return 2;
  }
  const timing: Timing = {
    beforeSeconds: 6,
    afterSeconds: 12,
    settleSeconds: 30,
    ratePerSender: Number(option('rate') ?? 20),
    senders: 6,
    ackTimeoutMs: 5_000,
    cutMode: argv.includes('--blackhole') ? 'blackhole' : 'refuse',
  };
  const keepDb = argv.includes('--keep-db');

  let services: { databaseUrl: string; redisUrl: string };
  try {
    services = await checkServices(process.env);
  } catch (error) {
    if (!(error instanceof MissingServices)) throw error;
    console.error(`npm run bench:faults needs PostgreSQL and Redis:\n${error.message}`);
    return 2;
  }
  if (!existsSync(join(ROOT, 'dist', 'src', 'main.js'))) {
    console.error('dist/src/main.js is missing: run `npm run build` first (npm run bench:faults does).');
    return 2;
  }

  const tag = `faults_${Date.now()}`;
  const cleanups = new Cleanups();
  const cleanup = () => cleanups.cleanup();

  try {
    const databaseUrl = await scratchBackend(services, tag, cleanups, { keepDb, log });

    // The reader and every socket come from 127.0.0.1, and a careful client resends its whole
    // outbox after a reconnect: benchAppEnv lifts the limits that would refuse them.
    const appEnv = benchAppEnv(tag);
    log('starting two instances, each behind its own PostgreSQL and Redis proxies');
    const cluster = await Cluster.start(2, freePort, { databaseUrl, redisUrl: services.redisUrl }, appEnv);
    cleanups.push(() => cluster.stop());
    const fixtures = Child.start('fixtures', { ...appEnv, DATABASE_URL: databaseUrl, REDIS_URL: services.redisUrl });
    cleanups.push(() => fixtures.stop());
    const clients = Child.start('faults/clients');
    cleanups.push(() => clients.stop());
    const sql = await Sql.connect(databaseUrl);
    cleanups.push(() => sql.close());

    const results: RunResult[] = [];
    const failed: Array<{ id: string; error: string }> = [];
    const selected = RUNS.filter((r) => !only || only.includes(r.id));
    for (const [index, spec] of selected.entries()) {
      const started = Date.now();
      try {
        await cluster.ready(60_000);
        results.push(await runFault({ cluster, fixtures, clients, sql, timing, index }, spec, log));
      } catch (error) {
        console.error(error);
        failed.push({ id: spec.id, error: (error as Error).message.split('\n')[0] });
      }
      log(`${spec.id} took ${Math.round((Date.now() - started) / 1000)} s`);
    }

    const file = saveResults('-faults', { timing, runs: results, failed });

    console.log(report(results, failed, timing));
    console.log(`\nresults: ${file}`);
    const broken = results.filter((r) => r.counts.lost > 0 || r.counts.duplicatedRows > 0);
    if (broken.length) {
      console.error(`FAILED: acknowledged messages lost or rows duplicated in ${broken.map((r) => r.id).join(', ')}`);
      return 1;
    }
    return 0;
  } finally {
    await cleanup();
  }
}

function report(results: RunResult[], failed: Array<{ id: string; error: string }>, timing: Timing): string {
  const out: string[] = [];
  out.push(
    `\n## Fault runs: 2 instances, ${timing.senders} senders × 2 devices at ${timing.ratePerSender} msg/s each + a receiver with 2 devices; cuts: ${timing.cutMode}\n`,
  );
  out.push('| run | fault window (s) | sent | acked | stored | lost | stored, not acked | dup rows | delivered live / expected | missed while connected (across instances) | dup live | reordered | retries | send→ack p99 / max (ms) | recovered after (s): new socket / cross-instance / presence |');
  out.push('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const c = r.counts;
    const share = c.expectedDeliveries ? ` (${((100 * c.delivered) / c.expectedDeliveries).toFixed(1)}%)` : '';
    out.push(
      `| ${r.id} | ${r.fault.startedAt}–${r.fault.endedAt} | ${fmt(c.sent)} | ${fmt(c.acked)} | ${fmt(c.stored)} | ${flag(c.lost)} | ${fmt(c.storedNotAcked)} | ${flag(c.duplicatedRows)} | ${fmt(c.delivered)} / ${fmt(c.expectedDeliveries)}${share} | ${fmt(c.missedWhileConnected)} (${fmt(c.missedAcrossInstances)}) | ${fmt(c.duplicateLive)} | ${fmt(c.reordered)} | ${fmt(c.retries)} | ${fmt(c.ackLatency.p99)} / ${fmt(c.ackLatency.max)} | ${[r.recovery.newSockets, r.recovery.crossInstance, r.recovery.presence].map(recovered).join(' / ')} |`,
    );
  }
  for (const f of failed) out.push(`| ${f.id} | run failed: ${f.error.replace(/\|/g, '\\|')} |`);

  out.push('\n### HTTP reads during the fault (one reader, the four routes in turn, alternating instances)\n');
  out.push('| run | route | requests | p50 / p99 / max (ms) | 503 (without Retry-After) | other 5xx | no answer | failovers |');
  out.push('|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    if (r.id === 'baseline') {
      for (const f of r.http.whole) out.push(httpRow('baseline (whole run)', f, null));
      continue;
    }
    const limit = r.id.startsWith('redis') ? REDIS_CUT_P99_MS : null;
    for (const f of r.http.during) out.push(httpRow(r.id, f, limit));
  }

  const notes: string[] = [];
  const timingAfter = timing.afterSeconds;
  for (const r of results) {
    const c = r.counts;
    const odd = [
      c.unknownRows && `${c.unknownRows} rows no client created`,
      c.phantom && `${c.phantom} acks/live frames for messages not in the database`,
      c.ackMismatches && `${c.ackMismatches} clientMessageIds answered with two message ids`,
      c.notStored && `${c.notStored} sends never answered nor stored (still retrying at the end)`,
      Object.keys(c.refused).length && `refused for good: ${JSON.stringify(c.refused)}`,
      r.sockets.logouts && `${r.sockets.logouts} sockets closed with a logout code (4001/4003)`,
      r.serverLog.errors && `${r.serverLog.errors} error lines in the server logs`,
    ].filter(Boolean);
    const extra =
      (c.extraAcks ? `; ${c.extraAcks} retries answered after the first answer` : '') +
      (c.reordered ? `; reordered: ${r.inversions.own} of the device's own user's messages late, ${r.inversions.others} of other members'` : '');
    const rate = (from: number, to: number) => {
      const span = r.timeline.filter((t) => t.second >= Math.floor(from) && t.second < Math.ceil(to));
      return span.length ? Math.round(span.reduce((n, t) => n + t.acked, 0) / span.length) : 0;
    };
    const sendingEnds = r.fault.endedAt + timingAfter;
    const answered = `answered/s before ${rate(0, r.fault.startedAt)}, during ${rate(r.fault.startedAt, r.fault.endedAt)}, after ${rate(r.fault.endedAt, sendingEnds)}, while settling ${rate(sendingEnds, r.timeline.length)}`;
    notes.push(
      `- ${r.id}: ${answered}; send errors ${JSON.stringify(c.sendErrors)}; socket closes ${JSON.stringify(r.sockets.closes)}, reconnects ${r.sockets.reconnects}, connect failures ${JSON.stringify(r.sockets.connectFailures)}; created during the fault ${c.createdDuringFault} (acked ${c.ackedOfDuringFault})${extra}; settled in ${r.settledIn} s; load average ${r.load[0]} → ${r.load[1]}` +
        (odd.length ? `; **${odd.join('; ')}**` : ''),
    );
  }
  out.push('\n### Details\n');
  out.push(...notes);
  return out.join('\n');
}

function httpRow(run: string, f: RouteFigures, p99Limit: number | null): string {
  const over = p99Limit !== null && f.latency.p99 > p99Limit ? ' **(over 2 s)**' : '';
  const other = Object.entries(f.otherServerErrors).map(([k, v]) => `${v}× ${k}`).join(', ');
  return `| ${run} | ${f.route} | ${f.requests} | ${f.latency.p50} / ${f.latency.p99}${over} / ${f.latency.max} | ${f.unavailable}${f.unavailableWithoutRetryAfter ? ` (**${f.unavailableWithoutRetryAfter}**)` : ''} | ${other ? `**${other}**` : '0'} | ${f.noAnswer} | ${f.failovers} |`;
}

const flag = (n: number): string => (n ? `**${fmt(n)}**` : '0');

const recovered = (c: CheckOutcome): string => (c.passedAfter === null ? `**no** (${c.lastFailure})` : String(c.passedAfter));

function log(message: string): void {
  console.error(`[faults ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

runMain(main);
