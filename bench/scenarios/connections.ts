import type { ClientSpec, ConnectResult } from '../load/ws-load';
import type { BenchUser } from '../fixtures';
import { CpuUse, measureCpu } from '../lib/cpu';
import { Bench, sleep } from '../lib/context';
import { fmt, ratio, yesNo } from '../lib/report';
import { ServerProcess } from '../lib/server';
import { closeAll, openIdle } from '../lib/ws-driver';

const TARGET_SOCKETS = 20_000;
/** Issue 17: resident memory per idle authenticated socket, and the connect rate against the relay's. */
const TARGET_KB_PER_SOCKET = 7;
const TARGET_CONNECT_RATIO = 0.5;

interface Held {
  connect: ConnectResult;
  /** CPU of the server (and PostgreSQL) while the sockets connected: steadier than the rate on a shared machine. */
  cpu: CpuUse;
  rssBeforeKb: number;
  rssAfterKb: number;
  kbPerSocket: number;
}

/** Opens the sockets, lets the process settle, and reads its resident memory before and after. */
async function hold(bench: Bench, server: ServerProcess, clients: ClientSpec[]): Promise<Held> {
  await sleep(1_000);
  const rssBeforeKb = server.rssKb();
  const { result: connect, cpu } = await measureCpu(server.pid, bench.database, () => openIdle(bench.wsLoad, server.wsUrl, clients));
  await sleep(2_000);
  const rssAfterKb = server.rssKb();
  await closeAll(bench.wsLoad);
  await sleep(1_000);
  return { connect, cpu, rssBeforeKb, rssAfterKb, kbPerSocket: connect.connected ? (rssAfterKb - rssBeforeKb) / connect.connected : NaN };
}

/** Scenario 3: N idle authenticated sockets; RSS per socket and time to connect them all. */
export async function connectionsScenario(bench: Bench): Promise<void> {
  const n = bench.settings.idleSockets;
  // Warm the generators up (JIT, TLS-free handshake paths) so the first measured server is not penalised.
  await openIdle(bench.wsLoad, bench.relay.wsUrl, Array.from({ length: 200 }, (_, i) => ({ key: `warm${i}`, user: `warm${i}` })));
  await closeAll(bench.wsLoad);
  const relay = await hold(
    bench,
    bench.relay,
    Array.from({ length: n }, (_, i) => ({ key: `idle${i}`, user: `idle${i}` })),
  );
  const users = await bench.fixtures.request<BenchUser[]>('users', { prefix: 'idle', count: n });
  const app = await hold(
    bench,
    bench.app,
    users.map((u) => ({ key: u.id, token: u.token })),
  );
  const fileLimit = bench.app.fileLimit();
  bench.raw.connections = { requested: n, serverFileLimit: fileLimit, relayFileLimit: bench.relay.fileLimit(), app, relay };

  const appRate = app.connect.connected / (app.connect.ms / 1000);
  const relayRate = relay.connect.connected / (relay.connect.ms / 1000);
  const cpuPerConnect = (held: Held, withDb: boolean): string =>
    held.connect.connected
      ? `; CPU/connect: server ${fmt((held.cpu.serverMs * 1000) / held.connect.connected)} µs${withDb ? `, PostgreSQL ${fmt((held.cpu.postgresMs * 1000) / held.connect.connected)} µs` : ''}`
      : '';
  const quickNote = bench.settings.quick ? ` (quick: N=${fmt(n)})` : '';
  const errors = Object.entries(app.connect.errors).map(([k, v]) => `${v}× ${k}`).join(', ');
  bench.rows.push(
    {
      scenario: `3 idle authenticated sockets held${quickNote}`,
      figure: `${fmt(app.connect.connected)} of ${fmt(n)}${errors ? ` (failed: ${errors})` : ''}; server file limit ${fmt(fileLimit)}`,
      baseline: `${fmt(relay.connect.connected)} of ${fmt(n)}`,
      ratio: ratio(app.connect.connected, relay.connect.connected),
      target: `${fmt(TARGET_SOCKETS)} held`,
      met: bench.settings.quick ? 'n/a (quick)' : yesNo(app.connect.connected >= TARGET_SOCKETS),
    },
    {
      scenario: '3 server RSS per idle socket',
      figure: `${fmt(app.kbPerSocket, 1)} KB (${fmt(app.rssBeforeKb / 1024)} → ${fmt(app.rssAfterKb / 1024)} MB)`,
      baseline: `relay ${fmt(relay.kbPerSocket, 1)} KB`,
      ratio: ratio(app.kbPerSocket, relay.kbPerSocket),
      target: `≤ ${TARGET_KB_PER_SOCKET} KB`,
      met: yesNo(app.kbPerSocket <= TARGET_KB_PER_SOCKET),
    },
    {
      scenario: '3 connect + auth:ok rate',
      figure: `${fmt(appRate)} sockets/s (${fmt(app.connect.ms / 1000, 2)} s for all)${cpuPerConnect(app, true)}`,
      baseline: `relay ${fmt(relayRate)} sockets/s (${fmt(relay.connect.ms / 1000, 2)} s)${cpuPerConnect(relay, false)}`,
      ratio: ratio(appRate, relayRate),
      target: `≥ ${TARGET_CONNECT_RATIO}× relay`,
      met: yesNo(appRate >= TARGET_CONNECT_RATIO * relayRate && app.connect.connected === n),
    },
  );
}
