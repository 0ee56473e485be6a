import type { BenchUser } from '../fixtures';
import type { ClientSpec, Flow } from '../load/ws-load';
import { api, expectOk, RouteMissing } from '../lib/api';
import { Bench, freePort } from '../lib/context';
import { cpuPerItem, CpuUse, measureCpu } from '../lib/cpu';
import { fmt, lat, ratio, Row, yesNo } from '../lib/report';
import { ServerProcess } from '../lib/server';
import { scrapeLabelledSum, scrapeMetric } from '../lib/services';
import { PhaseFigures, WsWorkload } from '../lib/ws-driver';

// The targets of issue 17, as ratios to the baselines of the same run.
/** 1:1 persisted + delivered, closed loop, against the relay (≈ 8,000 msg/s where the relay carries 40k). */
const TARGET_RELAY_RATIO = 0.2;
const TARGET_P99_MS = 20;
/** …and at most this many times the relay's p99 at the same rate. */
const TARGET_P99_RELAY_RATIO = 3;
const TARGET_P99_RATE = 1_000;
const TARGET_GROUP_RATIO = 0.75;
const TARGET_TWO_INSTANCES = 1.0;

/** The relay's chats, written to the file the relay reads at start: synthetic users and chats. */
export function relayChats(pairs: number, groupSize: number): Record<string, string[]> {
  const chats: Record<string, string[]> = {};
  for (let i = 0; i < pairs; i++) chats[`pair${i}`] = [`pa${i}`, `pb${i}`];
  chats.group = Array.from({ length: groupSize }, (_, i) => `gm${i}`);
  return chats;
}

interface MessageRun {
  skipped?: string;
  probe?: string;
  closed?: PhaseFigures;
  /** CPU the servers under test (and PostgreSQL) spent during the closed loop. */
  closedCpu?: CpuUse;
  /** Mean messages per group-commit statement over the closed loop (null: not reported by this build). */
  meanBatch?: number | null;
  /** The server's garbage-collection pauses over the closed loop, ms (null: not reported). */
  gcMs?: number | null;
  open: Record<number, PhaseFigures>;
}

/** Warm-up, closed-loop maximum, then each open-loop rate, on already opened sockets. */
async function drive(bench: Bench, workload: WsWorkload, rates: number[], window: number, pids: number[], metricsUrl?: string): Promise<MessageRun> {
  const { seconds, warmupSeconds } = bench.settings;
  await workload.phase({ mode: 'closed', seconds: warmupSeconds, window });
  const before = metricsUrl ? await scrapeMetric(metricsUrl, 'h2v_send_batch_size') : null;
  const gcBefore = metricsUrl ? await scrapeLabelledSum(metricsUrl, 'nodejs_gc_duration_seconds') : null;
  const { result: closed, cpu: closedCpu } = await measureCpu(pids, bench.database, () => workload.phase({ mode: 'closed', seconds, window }));
  const after = metricsUrl ? await scrapeMetric(metricsUrl, 'h2v_send_batch_size') : null;
  const gcAfter = metricsUrl ? await scrapeLabelledSum(metricsUrl, 'nodejs_gc_duration_seconds') : null;
  const meanBatch = before && after && after.count > before.count ? (after.sum - before.sum) / (after.count - before.count) : null;
  const gcMs = gcBefore !== null && gcAfter !== null ? (gcAfter - gcBefore) * 1000 : null;
  const open: Record<number, PhaseFigures> = {};
  for (const rate of rates) {
    // Each rate gets its own discarded warm-up: a process woken from idle by the first messages
    // of a new rate would otherwise charge its wake-up to the measured tail.
    await workload.phase({ mode: 'open', seconds: warmupSeconds, rate });
    open[rate] = await workload.phase({ mode: 'open', seconds, rate });
  }
  return { closed, closedCpu, meanBatch, gcMs, open };
}

async function runOn(
  bench: Bench,
  url: string,
  flows: Flow[],
  clients: Map<string, ClientSpec>,
  rates: number[],
  window: number,
  pids: number[],
  metricsUrl?: string,
): Promise<MessageRun> {
  const { workload, connect } = await WsWorkload.open(bench.wsLoad, url, flows, clients);
  try {
    if (connect.failed) throw new Error(`${connect.failed} sockets failed to connect: ${JSON.stringify(connect.errors)}`);
    const probe = await workload.probe();
    if (probe !== 'ok') return { skipped: `skipped: message:send not served (${probe})`, open: {} };
    return await drive(bench, workload, rates, window, pids, metricsUrl);
  } finally {
    await workload.close();
  }
}

const skippedBy = (error: unknown): string => {
  if (error instanceof RouteMissing) return error.message;
  throw error;
};

/** Users and direct chats of the 1:1 pairs, made once for scenarios 1 and 5 (users first: they outlive a missing chats route). */
async function appPairs(bench: Bench): Promise<{ a: BenchUser[]; b: BenchUser[]; chatIds: string[] }> {
  const { pairs } = bench.settings;
  pairFixture.users ??= {
    a: await bench.fixtures.request<BenchUser[]>('users', { prefix: 'pa', count: pairs }),
    b: await bench.fixtures.request<BenchUser[]>('users', { prefix: 'pb', count: pairs }),
  };
  const { a, b } = pairFixture.users;
  if (!pairFixture.chatIds) {
    const chatIds: string[] = [];
    for (let i = 0; i < pairs; i++) {
      const chat = expectOk(await api<{ id: string }>(bench.app.url, 'POST', '/api/chats/direct', a[i].token, { targetUserId: b[i].id }), 'POST /api/chats/direct');
      chatIds.push(chat.id);
    }
    pairFixture.chatIds = chatIds;
  }
  return { a, b, chatIds: pairFixture.chatIds };
}

const pairFixture: { users?: { a: BenchUser[]; b: BenchUser[] }; chatIds?: string[] } = {};

function pairFlows(a: BenchUser[], b: BenchUser[], chatIds: string[], urls: { sender: string; receiver: string }): { flows: Flow[]; clients: Map<string, ClientSpec> } {
  const clients = new Map<string, ClientSpec>();
  const flows = chatIds.map((chatId, i) => {
    clients.set(a[i].id, { key: a[i].id, token: a[i].token, url: urls.sender });
    clients.set(b[i].id, { key: b[i].id, token: b[i].token, url: urls.receiver });
    return { chatId, sender: a[i].id, receivers: [b[i].id] };
  });
  return { flows, clients };
}

function relayPairFlows(pairs: number): { flows: Flow[]; clients: Map<string, ClientSpec> } {
  const clients = new Map<string, ClientSpec>();
  const flows = Array.from({ length: pairs }, (_, i) => {
    clients.set(`pa${i}`, { key: `pa${i}`, user: `pa${i}` });
    clients.set(`pb${i}`, { key: `pb${i}`, user: `pb${i}` });
    return { chatId: `pair${i}`, sender: `pa${i}`, receivers: [`pb${i}`] };
  });
  return { flows, clients };
}

/** Lost messages and error frames of a phase, when there were any. */
export const extras = (f: PhaseFigures): string => {
  const notes = [f.lost ? `${fmt(f.lost)} lost` : '', ...Object.entries(f.errors).map(([k, v]) => `${v}× ${k}`)].filter(Boolean);
  return notes.length ? ` [${notes.join(', ')}]` : '';
};

/** CPU per message of the closed loop: the servers', PostgreSQL's and Redis's (robust to a busy machine, unlike msg/s), and the mean send batch. */
const cpuPerMessage = (run: MessageRun): string => {
  const f = run.closed;
  if (!f || !run.closedCpu || !f.completed) return '';
  const n = f.completed;
  const batch = run.meanBatch ? `; mean send batch ${fmt(run.meanBatch, 1)}` : '';
  const gc = typeof run.gcMs === 'number' ? ` (GC pauses ${fmt((run.gcMs * 1000) / n)} µs)` : '';
  return `; CPU/msg: ${cpuPerItem(run.closedCpu, n)}${gc}${batch}`;
};

/** Scenario 1: 1:1 pairs, closed-loop maximum and open-loop fixed rates. */
export async function directScenario(bench: Bench): Promise<void> {
  const { pairs, window, rates } = bench.settings;
  const relayFlows = relayPairFlows(pairs);
  const relay = await runOn(bench, bench.relay.wsUrl, relayFlows.flows, relayFlows.clients, rates, window, [bench.relay.pid]);
  let app: MessageRun;
  try {
    const { a, b, chatIds } = await appPairs(bench);
    const { flows, clients } = pairFlows(a, b, chatIds, { sender: bench.app.wsUrl, receiver: bench.app.wsUrl });
    app = await runOn(bench, bench.app.wsUrl, flows, clients, rates, window, [bench.app.pid], bench.app.url);
  } catch (error) {
    app = { skipped: skippedBy(error), open: {} };
  }
  bench.raw.direct = { pairs, window, app, relay };

  const rows: Row[] = [];
  const max = app.closed;
  const relayMax = relay.closed!;
  rows.push({
    scenario: `1 1:1 max persisted+delivered msg/s (closed loop, ${pairs} pairs × ${window} in flight)`,
    figure: max ? `${fmt(max.messagesPerSecond)} msg/s; ${lat(max.latency)}${extras(max)}${cpuPerMessage(app)}` : app.skipped!,
    baseline: `relay ${fmt(relayMax.messagesPerSecond)} msg/s${cpuPerMessage(relay).replace(', PostgreSQL 0 µs', '')}`,
    ratio: max ? ratio(max.messagesPerSecond, relayMax.messagesPerSecond) : '—',
    target: `≥ ${TARGET_RELAY_RATIO}× relay`,
    met: max ? yesNo(max.messagesPerSecond >= TARGET_RELAY_RATIO * relayMax.messagesPerSecond && max.lost === 0) : '—',
  });
  for (const rate of rates) {
    const figures = app.open[rate];
    const base = relay.open[rate];
    const hasTarget = rate === TARGET_P99_RATE;
    rows.push({
      scenario: `1 1:1 latency at ${fmt(rate)} msg/s (open loop)`,
      figure: figures ? `${lat(figures.latency)}; ${fmt(figures.messagesPerSecond)} msg/s delivered${extras(figures)}` : app.skipped!,
      baseline: `relay p99 ${base.latency.p99} ms`,
      ratio: figures ? ratio(figures.latency.p99, base.latency.p99) : '—',
      target: hasTarget ? `p99 ≤ ${TARGET_P99_MS} ms and ≤ ${TARGET_P99_RELAY_RATIO}× relay` : '—',
      met:
        figures && hasTarget
          ? yesNo(figures.latency.p99 <= TARGET_P99_MS && figures.latency.p99 <= TARGET_P99_RELAY_RATIO * base.latency.p99 && figures.lost === 0)
          : '—',
    });
  }
  bench.rows.push(...rows);
}

/** Scenario 2: one group, every member connected, several members sending. */
export async function groupScenario(bench: Bench): Promise<void> {
  const { groupSize, groupSenders, window } = bench.settings;
  const groupWindow = Math.max(1, Math.floor(window / 2));
  const relayClients = new Map<string, ClientSpec>(Array.from({ length: groupSize }, (_, i) => [`gm${i}`, { key: `gm${i}`, user: `gm${i}` }]));
  const relayMembers = [...relayClients.keys()];
  const groupFlows = (chatId: string, members: string[]): Flow[] =>
    members.slice(0, groupSenders).map((sender) => ({ chatId, sender, receivers: members.filter((m) => m !== sender) }));
  // One generator holds the whole group: every delivery of a message is timed by one clock.
  const generators = [bench.wsLoad[0]];
  const relay = await runGroup(bench, generators, bench.relay.wsUrl, groupFlows('group', relayMembers), relayClients, groupWindow, [bench.relay.pid]);

  let app: MessageRun;
  try {
    const members = await bench.fixtures.request<BenchUser[]>('users', { prefix: 'gm', count: groupSize });
    const [owner, ...others] = members;
    const chat = expectOk(
      await api<{ id: string }>(bench.app.url, 'POST', '/api/chats/group', owner.token, { name: 'bench group', memberIds: others.map((m) => m.id) }),
      'POST /api/chats/group',
    );
    const clients = new Map<string, ClientSpec>(members.map((m) => [m.id, { key: m.id, token: m.token }]));
    app = await runGroup(bench, generators, bench.app.wsUrl, groupFlows(chat.id, members.map((m) => m.id)), clients, groupWindow, [bench.app.pid], bench.app.url);
  } catch (error) {
    app = error instanceof RouteMissing ? { skipped: error.message, open: {} } : { skipped: `skipped: ${(error as Error).message}`, open: {} };
    if (!(error instanceof RouteMissing) && !/answered/.test((error as Error).message)) throw error;
  }
  bench.raw.group = { groupSize, groupSenders, window: groupWindow, app, relay };

  const max = app.closed;
  const relayMax = relay.closed!;
  const share = max ? max.deliveriesPerSecond / relayMax.deliveriesPerSecond : NaN;
  bench.rows.push(
    {
      scenario: `2 group of ${groupSize}: deliveries/s (closed loop, ${groupSenders} senders × ${groupWindow} in flight)`,
      figure: max ? `${fmt(max.deliveriesPerSecond)} deliveries/s (${fmt(max.messagesPerSecond)} msg/s)${extras(max)}${cpuPerMessage(app)}` : app.skipped!,
      baseline: `relay ${fmt(relayMax.deliveriesPerSecond)} deliveries/s${cpuPerMessage(relay).replace(', PostgreSQL 0 µs', '')}`,
      ratio: max ? ratio(max.deliveriesPerSecond, relayMax.deliveriesPerSecond) : '—',
      target: `≥ ${TARGET_GROUP_RATIO}× relay`,
      met: max ? yesNo(share >= TARGET_GROUP_RATIO && max.lost === 0) : '—',
    },
    {
      scenario: `2 group of ${groupSize}: send → each member's message:new`,
      figure: max ? lat(max.latency) : app.skipped!,
      baseline: `p99 ${relayMax.latency.p99} ms`,
      ratio: max ? ratio(max.latency.p99, relayMax.latency.p99) : '—',
      target: '—',
      met: '—',
    },
  );
}

async function runGroup(
  bench: Bench,
  generators: Bench['wsLoad'][number][],
  url: string,
  flows: Flow[],
  clients: Map<string, ClientSpec>,
  window: number,
  pids: number[],
  metricsUrl?: string,
): Promise<MessageRun> {
  const { workload, connect } = await WsWorkload.open(generators, url, flows, clients);
  try {
    if (connect.failed) throw new Error(`${connect.failed} sockets failed to connect: ${JSON.stringify(connect.errors)}`);
    const probe = await workload.probe();
    if (probe !== 'ok') return { skipped: `skipped: message:send not served (${probe})`, open: {} };
    return await drive(bench, workload, [], window, pids, metricsUrl);
  } finally {
    await workload.close();
  }
}

/** Scenario 5: a second instance on the same Postgres and Redis; senders on one, receivers on the other. */
export async function twoInstancesScenario(bench: Bench): Promise<void> {
  const { pairs, window } = bench.settings;
  const rates = [TARGET_P99_RATE];
  const oneInstance = bench.raw.direct as { app: MessageRun; relay: MessageRun } | undefined;
  let app: MessageRun;
  try {
    const { a, b, chatIds } = await appPairs(bench);
    const second = await ServerProcess.app('app-2', await freePort(), bench.appEnv);
    bench.extraServers.push(second);
    try {
      const { flows, clients } = pairFlows(a, b, chatIds, { sender: bench.app.wsUrl, receiver: second.wsUrl });
      app = await runOn(bench, bench.app.wsUrl, flows, clients, rates, window, [bench.app.pid, second.pid], bench.app.url);
    } finally {
      await second.stop();
      bench.extraServers.splice(bench.extraServers.indexOf(second), 1);
    }
  } catch (error) {
    app = { skipped: skippedBy(error), open: {} };
  }
  bench.raw.twoInstances = { pairs, window, app };

  const one = oneInstance?.app.closed;
  const max = app.closed;
  const at = app.open[TARGET_P99_RATE];
  const oneAt = oneInstance?.app.open[TARGET_P99_RATE];
  const relayMax = oneInstance?.relay.closed;
  bench.rows.push(
    {
      scenario: '5 two instances via Redis: max msg/s (closed loop)',
      figure: max ? `${fmt(max.messagesPerSecond)} msg/s; ${lat(max.latency)}${extras(max)}${cpuPerMessage(app)}` : app.skipped!,
      baseline: one ? `one instance ${fmt(one.messagesPerSecond)} msg/s (relay ${fmt(relayMax!.messagesPerSecond)})` : 'one instance: not measured (scenario 1 skipped)',
      ratio: max && one ? ratio(max.messagesPerSecond, one.messagesPerSecond) : '—',
      target: `≥ ${TARGET_TWO_INSTANCES}× one instance`,
      met: max && one ? yesNo(max.messagesPerSecond >= TARGET_TWO_INSTANCES * one.messagesPerSecond) : '—',
    },
    {
      scenario: `5 two instances: latency at ${fmt(TARGET_P99_RATE)} msg/s`,
      figure: at ? `${lat(at.latency)}${extras(at)}` : app.skipped!,
      baseline: oneAt ? `one instance p99 ${oneAt.latency.p99} ms` : '—',
      ratio: at && oneAt ? ratio(at.latency.p99, oneAt.latency.p99) : '—',
      target: '—',
      met: '—',
    },
  );
}
