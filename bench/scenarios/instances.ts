import type { BenchUser } from '../fixtures';
import type { ClientSpec, Flow } from '../load/ws-load';
import { api, expectOk } from '../lib/api';
import { Bench, freePort } from '../lib/context';
import { cpuPerItem, CpuUse, measureCpu } from '../lib/cpu';
import { fmt, lat, ratio, Row, yesNo } from '../lib/report';
import { ServerProcess } from '../lib/server';
import { scrapeCounters } from '../lib/services';
import { PhaseFigures, WsWorkload } from '../lib/ws-driver';
import { extras } from './messages';

/**
 * Scenario 6 (issue 19): four instances on one PostgreSQL and Redis, 400 users spread over them
 * round-robin (each user's one socket on one instance), 1:1 and group traffic. It shows what
 * the realtime bus costs each instance: the bus records (one per published event) an instance
 * received from the others, per record it had a recipient socket for — read from each
 * instance's /metrics around the measured window — and the throughput of the four against one
 * instance carrying the same users and load on the same machine.
 */

const INSTANCES = 4;
const USERS = 400;
const GROUP_SIZE = 20;
const GROUP_SENDERS = 2;
/** Four instances share the machine's 2 cores with each other: ≥ 0.9× one instance. */
const TARGET_SCALE = 0.9;
/** Bus records an instance receives per record it delivers (1.0: it gets only what it needs). */
const TARGET_RECEIVED_PER_DELIVERED = 1.2;
const RECEIVED = 'h2v_bus_events_received_total';
const DELIVERED = 'h2v_bus_events_delivered_total';
const BUS_MESSAGES = 'h2v_bus_frames_received_total';

/** One kind of traffic over the same 400 users: its flows and how many messages each keeps in flight. */
interface Traffic {
  kind: '1:1' | 'groups';
  flows: Flow[];
  window: number;
}

/** One instance's bus counters over the measured window (null: its build does not serve them). */
interface BusUse {
  received: number;
  delivered: number;
  busMessages: number;
}

interface Run {
  figures: PhaseFigures;
  cpu: CpuUse;
  /** Per instance, in the order users were dealt to them. */
  bus: Array<BusUse | null>;
}

/** Deterministic shuffle (mulberry32): the same pairs on every run. */
function shuffled<T>(items: T[], seed: number): T[] {
  const out = [...items];
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * The users split in two halves, one per load generator, so every user has exactly one socket
 * (a user in flows of both generators would be connected by each). Within a half: random pairs
 * (a pair shares an instance one time in four, as behind a load balancer) and groups of
 * consecutive users, so each group has members on every instance. Flows alternate between the
 * halves because WsWorkload deals flows to the generators round-robin.
 */
async function makeTraffic(bench: Bench, users: BenchUser[], window: number): Promise<Traffic[]> {
  const halves = [users.slice(0, USERS / 2), users.slice(USERS / 2)];
  const pairFlows: Flow[][] = [];
  const groupFlows: Flow[][] = [];
  for (const [h, half] of halves.entries()) {
    const order = shuffled(half, 19 + h);
    const pairs = await Promise.all(
      Array.from({ length: order.length / 2 }, async (_, i): Promise<Flow> => {
        const [a, b] = [order[2 * i], order[2 * i + 1]];
        const chat = expectOk(await api<{ id: string }>(bench.app.url, 'POST', '/api/chats/direct', a.token, { targetUserId: b.id }), 'POST /api/chats/direct');
        return { chatId: chat.id, sender: a.id, receivers: [b.id] };
      }),
    );
    pairFlows.push(pairs);
    const groups: Flow[] = [];
    for (let start = 0; start + GROUP_SIZE <= half.length; start += GROUP_SIZE) {
      const [owner, ...others] = half.slice(start, start + GROUP_SIZE);
      const chat = expectOk(
        await api<{ id: string }>(bench.app.url, 'POST', '/api/chats/group', owner.token, { name: `bench 6 group ${h}.${start / GROUP_SIZE}`, memberIds: others.map((m) => m.id) }),
        'POST /api/chats/group',
      );
      const members = [owner, ...others].map((m) => m.id);
      // Each group's senders sit on other instances than the last group's: every instance sends.
      const senders = Array.from({ length: GROUP_SENDERS }, (_, k) => members[(groups.length + k) % GROUP_SIZE]);
      for (const sender of senders) groups.push({ chatId: chat.id, sender, receivers: members.filter((m) => m !== sender) });
    }
    groupFlows.push(groups);
  }
  const alternate = (perHalf: Flow[][]): Flow[] => perHalf[0].flatMap((flow, i) => [flow, perHalf[1][i]]);
  return [
    { kind: '1:1', flows: alternate(pairFlows), window },
    { kind: 'groups', flows: alternate(groupFlows), window: Math.max(1, Math.floor(window / 2)) },
  ];
}

async function busCounters(instance: ServerProcess): Promise<BusUse | null> {
  const counters = await scrapeCounters(instance.url, [RECEIVED, DELIVERED, BUS_MESSAGES]);
  if (!counters || counters[RECEIVED] === null || counters[DELIVERED] === null) return null;
  return { received: counters[RECEIVED], delivered: counters[DELIVERED], busMessages: counters[BUS_MESSAGES] ?? NaN };
}

/** One traffic on these instances, each user's socket on instance (index mod count): warm-up, then the measured closed loop. */
async function run(bench: Bench, instances: ServerProcess[], users: BenchUser[], traffic: Traffic, seconds: number, warmupSeconds: number): Promise<Run> {
  const clients = new Map<string, ClientSpec>(users.map((u, i) => [u.id, { key: u.id, token: u.token, url: instances[i % instances.length].wsUrl }]));
  const { workload, connect } = await WsWorkload.open(bench.wsLoad, instances[0].wsUrl, traffic.flows, clients);
  try {
    if (connect.failed) throw new Error(`${connect.failed} sockets failed to connect: ${JSON.stringify(connect.errors)}`);
    const probe = await workload.probe();
    if (probe !== 'ok') throw new Error(`message:send not served (${probe})`);
    // The warm-up also carries the presence events of 400 connecting users: out of the window.
    await workload.phase({ mode: 'closed', seconds: warmupSeconds, window: traffic.window });
    const before = await Promise.all(instances.map(busCounters));
    const { result: figures, cpu } = await measureCpu(
      instances.map((s) => s.pid),
      bench.database,
      () => workload.phase({ mode: 'closed', seconds, window: traffic.window }),
    );
    const after = await Promise.all(instances.map(busCounters));
    const bus = instances.map((_, i) => {
      const [b, a] = [before[i], after[i]];
      return a && b ? { received: a.received - b.received, delivered: a.delivered - b.delivered, busMessages: a.busMessages - b.busMessages } : null;
    });
    return { figures, cpu, bus };
  } finally {
    await workload.close();
  }
}

const perMessage = (r: Run): string => (r.figures.completed ? `; CPU/msg: ${cpuPerItem(r.cpu, r.figures.completed, 'servers')}` : '');

/** Scenario 6: four instances against one, 1:1 and group traffic, and each instance's bus records received per record delivered. */
export async function fourInstancesScenario(bench: Bench): Promise<void> {
  const { quick, window } = bench.settings;
  // ~60 s in a full run (4 measured loops and the start of three servers), a few seconds each in --quick.
  const seconds = quick ? 2 : 6;
  const warmupSeconds = quick ? 1 : 2;
  // The other three start while the fixtures are made (little bus traffic then): a server's start
  // is the longest step of a quick run. They are stopped before the one-instance runs, which
  // they would otherwise slow down by receiving its whole bus.
  const starting = Array.from({ length: INSTANCES - 1 }, async (_, i) => {
    const server = await ServerProcess.app(`app-${i + 2}`, await freePort(), bench.appEnv);
    bench.extraServers.push(server);
    return server;
  });
  // A start that fails is reported where it is awaited, not as an unhandled rejection meanwhile.
  for (const server of starting) server.catch(() => undefined);
  const four: Record<string, Run> = {};
  const one: Record<string, Run> = {};
  let traffics: Traffic[];
  let users: BenchUser[];
  try {
    users = await bench.fixtures.request<BenchUser[]>('users', { prefix: 's6u', count: USERS });
    traffics = await makeTraffic(bench, users, window);
    const instances = [bench.app, ...(await Promise.all(starting))];
    for (const traffic of traffics) four[traffic.kind] = await run(bench, instances, users, traffic, seconds, warmupSeconds);
  } finally {
    const started = await Promise.allSettled(starting);
    await Promise.all(
      started.map(async (s) => {
        if (s.status !== 'fulfilled') return;
        await s.value.stop();
        bench.extraServers.splice(bench.extraServers.indexOf(s.value), 1);
      }),
    );
  }
  for (const traffic of traffics) one[traffic.kind] = await run(bench, [bench.app], users, traffic, seconds, warmupSeconds);
  bench.raw.fourInstances = { instances: INSTANCES, users: USERS, groupSize: GROUP_SIZE, groupSenders: GROUP_SENDERS, seconds, traffics: traffics.map((t) => ({ kind: t.kind, flows: t.flows.length, window: t.window })), one, four };

  const rows: Row[] = [];
  for (const traffic of traffics) {
    const [f4, f1] = [four[traffic.kind], one[traffic.kind]];
    const what =
      traffic.kind === '1:1'
        ? `${traffic.flows.length} pairs × ${traffic.window} in flight`
        : `${traffic.flows.length / GROUP_SENDERS} groups of ${GROUP_SIZE}, ${GROUP_SENDERS} senders each × ${traffic.window} in flight`;
    const deliveries = traffic.kind === 'groups' ? ` (${fmt(f4.figures.deliveriesPerSecond)} deliveries/s)` : '';
    rows.push({
      scenario: `6 ${INSTANCES} instances, ${USERS} users round-robin, ${traffic.kind} (${what}): msg/s`,
      figure: `${fmt(f4.figures.messagesPerSecond)} msg/s${deliveries}; ${lat(f4.figures.latency)}${extras(f4.figures)}${perMessage(f4)}`,
      baseline: `one instance ${fmt(f1.figures.messagesPerSecond)} msg/s; p99 ${f1.figures.latency.p99} ms${extras(f1.figures)}${perMessage(f1)}`,
      ratio: ratio(f4.figures.messagesPerSecond, f1.figures.messagesPerSecond),
      target: `≥ ${TARGET_SCALE}× one instance`,
      met: yesNo(f4.figures.messagesPerSecond >= TARGET_SCALE * f1.figures.messagesPerSecond && f4.figures.lost === 0),
    });
  }
  for (let i = 0; i < INSTANCES; i++) {
    const uses = traffics.map((t) => ({ kind: t.kind, use: four[t.kind].bus[i] }));
    const served = uses.every((u) => u.use);
    const perDelivered = (u: BusUse) => u.received / u.delivered;
    rows.push({
      scenario: `6 instance ${i + 1} of ${INSTANCES} (${USERS / INSTANCES} users): bus events received per event delivered`,
      figure: served
        ? uses.map(({ kind, use }) => `${kind}: ${fmt(use!.received)} received / ${fmt(use!.delivered)} delivered (${fmt(use!.busMessages)} bus messages)`).join('; ')
        : `not measured: this build serves no ${RECEIVED} / ${DELIVERED}`,
      baseline: '—',
      ratio: served ? uses.map(({ kind, use }) => `${kind} ${use!.delivered ? perDelivered(use!).toFixed(2) : '—'}×`).join(', ') : '—',
      target: `≤ ${TARGET_RECEIVED_PER_DELIVERED}`,
      met: served ? yesNo(uses.every(({ use }) => use!.delivered > 0 && perDelivered(use!) <= TARGET_RECEIVED_PER_DELIVERED)) : '—',
    });
  }
  bench.rows.push(...rows);
}
