import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { RouteMissing } from './lib/api';
import { Child } from './lib/child';
import { Bench, freePort, settingsFor } from './lib/context';
import { watchRedis } from './lib/cpu';
import { markdownTable, Row } from './lib/report';
import { ServerProcess } from './lib/server';
import { benchAppEnv, checkServices, Cleanups, MissingServices, scratchBackend, Sql, webPushEnv } from './lib/services';
import { runMain } from './lib/results';
import { connectionsScenario } from './scenarios/connections';
import { httpScenario } from './scenarios/http';
import { fourInstancesScenario } from './scenarios/instances';
import { directScenario, groupScenario, relayChats, twoInstancesScenario } from './scenarios/messages';

/**
 * `npm run bench [-- --quick] [-- --only=1,3 | --only 1,3] [-- --keep-db]`: starts the H2V server on a fresh database, the
 * baselines (the `ws` relay, a bare `node:http` server), a fixture process and the load generators
 * as separate processes, runs the scenarios and prints each target of issue 17 with its ratio to
 * the baseline of the same run; writes bench/results/<ISO date>.json plus a Markdown table.
 * `--keep-db` leaves the benchmark's database behind (its name is printed) for EXPLAIN ANALYZE.
 * `--web-push` runs every app instance with a VAPID pair, as a deployment serving the web client
 * does (Web Push on; no bench user has a subscription, so each fan-out finds nobody to notify).
 */

const ROOT = resolve(__dirname, '..', '..');
const SCENARIOS: Array<{ id: string; name: string; run: (bench: Bench) => Promise<void> }> = [
  { id: '3', name: 'idle connections', run: connectionsScenario },
  { id: '1', name: '1:1 messages', run: directScenario },
  { id: '2', name: 'group fan-out', run: groupScenario },
  { id: '5', name: 'two instances', run: twoInstancesScenario },
  { id: '4', name: 'HTTP', run: httpScenario },
  { id: '6', name: 'four instances (issue 19)', run: fourInstancesScenario },
];

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const quick = argv.includes('--quick');
  // `--only=1,3` or `--only 1,3`.
  const onlyAt = argv.indexOf('--only');
  const only = (argv.find((a) => a.startsWith('--only='))?.slice(7) ?? (onlyAt >= 0 ? argv[onlyAt + 1] : undefined))?.split(',');
  const keepDb = argv.includes('--keep-db');
  const webPush = argv.includes('--web-push');
  const settings = settingsFor(quick);
  // The machine is shared: its load is part of every figure, so it is printed and kept with them.
  const loadAtStart = loadavg();

  let services: { databaseUrl: string; redisUrl: string; redisPid: number | null };
  try {
    services = await checkServices(process.env);
    watchRedis(services.redisPid);
  } catch (error) {
    if (!(error instanceof MissingServices)) throw error;
    console.error(`npm run bench needs PostgreSQL and Redis:\n${error.message}`);
    return 2;
  }
  if (!existsSync(join(ROOT, 'dist', 'src', 'main.js'))) {
    console.error('dist/src/main.js is missing: run `npm run build` first (npm run bench does).');
    return 2;
  }

  const tag = `bench_${Date.now()}`;
  const scratch = mkdtempSync(join(tmpdir(), 'h2v-bench-run-'));
  const cleanups = new Cleanups();
  const cleanup = () => cleanups.cleanup();
  cleanups.push(async () => rmSync(scratch, { recursive: true, force: true }));

  try {
    const databaseUrl = await scratchBackend(services, tag, cleanups, { keepDb, log });

    // The WebSocket generators drive each sender far past a person's pace and open up to 20,000
    // sockets from 80 loopback addresses: benchAppEnv lifts the limits they would hit.
    const appEnv: Record<string, string> = { ...benchAppEnv(tag), ...(webPush ? webPushEnv() : {}), DATABASE_URL: databaseUrl, REDIS_URL: services.redisUrl };

    log('starting the server under test');
    // BENCH_NODE_ARGS passes flags to the server under test, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`.
    const nodeArgs = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
    const app = await ServerProcess.app('app', await freePort(), appEnv, nodeArgs);
    cleanups.push(() => app.stop());

    const chatsFile = join(scratch, 'relay-chats.json');
    writeFileSync(chatsFile, JSON.stringify(relayChats(settings.pairs, settings.groupSize)));
    const relay = await ServerProcess.relay(await freePort(), chatsFile);
    cleanups.push(() => relay.stop());
    const bare = await ServerProcess.bare(await freePort());
    cleanups.push(() => bare.stop());

    const fixtures = Child.start('fixtures', appEnv);
    cleanups.push(() => fixtures.stop());
    const wsLoad: [Child, Child] = [Child.start('load/ws-load'), Child.start('load/ws-load')];
    cleanups.push(() => Promise.all(wsLoad.map((g) => g.stop())));
    const httpLoad = Child.start('load/http-load');
    cleanups.push(() => httpLoad.stop());
    const sql = await Sql.connect(databaseUrl);
    cleanups.push(() => sql.close());

    const bench: Bench = { settings, database: tag, appEnv, app, relay, bare, fixtures, wsLoad, httpLoad, sql, rows: [], raw: {}, extraServers: [] };
    cleanups.push(() => Promise.all(bench.extraServers.map((s) => s.stop())));

    for (const scenario of SCENARIOS) {
      if (only && !only.includes(scenario.id)) continue;
      log(`scenario ${scenario.id}: ${scenario.name}`);
      const started = Date.now();
      try {
        await scenario.run(bench);
      } catch (error) {
        const reason = error instanceof RouteMissing ? error.message : `failed: ${(error as Error).message.split('\n')[0]}`;
        console.error(error);
        bench.rows.push({ scenario: `${scenario.id} ${scenario.name}`, figure: reason, baseline: '—', ratio: '—', target: '—', met: '—' });
      }
      log(`scenario ${scenario.id} took ${Math.round((Date.now() - started) / 1000)} s`);
      if (app.exitedAs) {
        // The server under test is gone: say how, with its last words, rather than report every later scenario as failed fetches.
        console.error(`[bench] the server under test exited (${app.exitedAs}); its last output:\n${app.tail()}`);
        break;
      }
    }

    // By scenario number; rows of one scenario keep the order they were measured in (stable sort).
    const rows = bench.rows.sort((a, b) => parseInt(a.scenario, 10) - parseInt(b.scenario, 10));
    const finishedAt = new Date();
    const results = {
      date: finishedAt.toISOString(),
      quick,
      webPush,
      machine: { cpus: cpus().length, cpu: cpus()[0]?.model, node: process.version, dbPoolSize: 10, loadAtStart, loadAtEnd: loadavg() },
      settings,
      rows,
      raw: bench.raw,
    };
    const dir = join(ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `${finishedAt.toISOString().replace(/:/g, '-')}${quick ? '-quick' : ''}.json`);
    writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
    printTable(rows, quick, webPush, file);
    console.log(`load average (1/5/15 min): ${loadAtStart.map((l) => l.toFixed(2)).join(' ')} at start, ${loadavg().map((l) => l.toFixed(2)).join(' ')} at the end (${cpus().length} cores)`);
    return 0;
  } finally {
    await cleanup();
  }
}

function printTable(rows: Row[], quick: boolean, webPush: boolean, file: string): void {
  console.log(`\n## H2V benchmark${quick ? ' (--quick: a few seconds per scenario, figures are indicative only)' : ''}${webPush ? ' (--web-push: Web Push on)' : ''}\n`);
  console.log(markdownTable(rows));
  console.log(`\nresults: ${file}`);
}

function log(message: string): void {
  console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);
}

runMain(main);
