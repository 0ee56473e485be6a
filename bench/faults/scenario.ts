import type { BenchUser } from '../fixtures';
import { api, expectOk } from '../lib/api';
import { Child } from '../lib/child';
import { sleep } from '../lib/context';
import { Sql } from '../lib/services';
import { CutMode } from '../lib/tcp-proxy';
import { audit, Counts, StoredRow } from './audit';
import { Cluster, LogLine } from './cluster';
import { Device, Ledger } from './device';
import { Route, RouteFigures, routeFigures, RouteReader } from './reader';
import { checkRecovery, Recovery } from './recovery';

export type Fault =
  | { kind: 'none' }
  /** kill -9 of instance `instance`, started again `downSeconds` later. */
  | { kind: 'kill'; instance: number; downSeconds: number }
  | { kind: 'redis'; seconds: number }
  | { kind: 'postgres'; seconds: number };

export interface RunSpec {
  id: string;
  title: string;
  fault: Fault;
}

export interface Timing {
  /** Sending before the fault, and after it ends. */
  beforeSeconds: number;
  afterSeconds: number;
  /** Longest wait, once sending stops, for every send to be answered. */
  settleSeconds: number;
  /** Messages per second per sending user (spread over the user's two devices). */
  ratePerSender: number;
  senders: number;
  ackTimeoutMs: number;
  cutMode: CutMode;
}

export interface RunResult {
  id: string;
  title: string;
  /** Seconds from the start of sending: when the fault began and ended (ended = service back, or the killed instance healthy again). */
  fault: { startedAt: number; endedAt: number };
  counts: Counts;
  recovery: Recovery;
  http: { before: RouteFigures[]; during: RouteFigures[]; after: RouteFigures[]; whole: RouteFigures[] };
  sockets: { closes: Record<string, number>; connectFailures: Record<string, number>; reconnects: number; logouts: number; errorFrames: Record<string, number> };
  /** Where the reordered frames came from: a device's own user's message arriving late, or another member's; with a few examples. */
  inversions: { own: number; others: number; samples: Array<{ device: string; chatId: string; after: number; seq: number; own: boolean; gapMs: number }> };
  /** Seconds spent waiting for the last answers once sending stopped. */
  settledIn: number;
  serverLog: { warnings: number; errors: number; byMessage: Record<string, number>; errorSamples: LogLine[] };
}

export interface RunContext {
  cluster: Cluster;
  fixtures: Child;
  sql: Sql;
  timing: Timing;
  /** Makes names unique in the database across runs. */
  index: number;
}

const RECOVERY_DEADLINE_MS = 30_000;

/**
 * One fault run on fresh users: `senders` users with two devices each (one socket on each
 * instance) and a receiver with two devices write into one group of all of them and each
 * sender's direct chat with the receiver; a reader polls four routes; the fault strikes after
 * `beforeSeconds`; sending goes on for `afterSeconds` after it ends while the recovery checks
 * run; then every send is given `settleSeconds` to be answered before the database is counted.
 */
export async function runFault(ctx: RunContext, spec: RunSpec, log: (m: string) => void): Promise<RunResult> {
  const { cluster, fixtures, timing } = ctx;
  const [http0] = cluster.httpUrls;
  const tag = `flt${ctx.index}`;
  const senders = await fixtures.request<BenchUser[]>('users', { prefix: `${tag}s`, count: timing.senders });
  const [receiver] = await fixtures.request<BenchUser[]>('users', { prefix: `${tag}r`, count: 1 });
  const probes = await fixtures.request<BenchUser[]>('users', { prefix: `${tag}p`, count: 6 });
  const extra = await fixtures.request<Record<string, string[]>>('sessions', { userIds: [...senders, receiver].map((u) => u.id), count: 1 });
  const [readerToken] = (await fixtures.request<Record<string, string[]>>('sessions', { userIds: [receiver.id], count: 1 }))[receiver.id];

  const group = expectOk(
    await api<{ id: string }>(http0, 'POST', '/api/chats/group', senders[0].token, { name: `${tag} group`, memberIds: [...senders.slice(1), receiver].map((u) => u.id) }),
    'POST /api/chats/group',
  );
  const members = new Map<string, string[]>([[group.id, [...senders, receiver].map((u) => u.id)]]);
  const directs: string[] = [];
  for (const sender of senders) {
    const chat = expectOk(await api<{ id: string }>(http0, 'POST', '/api/chats/direct', sender.token, { targetUserId: receiver.id }), 'POST /api/chats/direct');
    directs.push(chat.id);
    members.set(chat.id, [sender.id, receiver.id]);
  }
  const [probeA, probeB, ...fresh] = probes;
  const probeGroup = expectOk(
    await api<{ id: string }>(http0, 'POST', '/api/chats/group', probeA.token, { name: `${tag} probes`, memberIds: [probeB, ...fresh].map((u) => u.id) }),
    'POST /api/chats/group',
  );

  const ledger: Ledger = new Map();
  const mark = `${tag}`;
  const device = (user: BenchUser, n: number, token: string, home: number) =>
    new Device({ key: `${user.nickname}/${n}`, userId: user.id, token, urls: cluster.wsUrls, home, ledger, mark, ackTimeoutMs: timing.ackTimeoutMs });
  const senderDevices = senders.flatMap((s, i) => [device(s, 1, s.token, i % 2), device(s, 2, extra[s.id][0], (i + 1) % 2)]);
  const devices = [...senderDevices, device(receiver, 1, receiver.token, 0), device(receiver, 2, extra[receiver.id][0], 1)];
  await Promise.all(devices.map((d) => d.start()));

  const routes: Route[] = [
    { name: 'GET /api/users/me', path: '/api/users/me' },
    { name: 'GET /api/chats', path: '/api/chats' },
    { name: 'GET /api/chats/:id/messages', path: `/api/chats/${group.id}/messages?limit=50` },
    { name: 'GET /api/users/search?q=', path: `/api/users/search?q=${tag}` },
  ];
  const reader = new RouteReader(cluster.httpUrls, readerToken, routes);
  cluster.takeLogs();

  // Each sending device writes at half its user's rate, alternating between the group and its direct chat.
  const perDeviceMs = 1000 / (timing.ratePerSender / 2);
  let sending = true;
  const generators = senderDevices.map((d, i) => {
    let n = 0;
    const direct = directs[Math.floor(i / 2)];
    const timer = setInterval(() => sending && d.create(n++ % 2 === 0 ? group.id : direct), perDeviceMs);
    return timer;
  });
  const started = Date.now();
  reader.start();
  log(`${spec.id}: sending (${timing.senders} senders × ${timing.ratePerSender} msg/s) for ${timing.beforeSeconds} s before the fault`);
  await sleep(timing.beforeSeconds * 1000);

  const faultStart = Date.now();
  await inflict(cluster, spec.fault, timing.cutMode, log);
  const faultEnd = Date.now();
  const recovering = checkRecovery(cluster.wsUrls, { a: probeA, b: probeB, chatAB: probeGroup.id, fresh }, faultEnd, RECOVERY_DEADLINE_MS);
  await sleep(timing.afterSeconds * 1000);

  sending = false;
  generators.forEach(clearInterval);
  const settleStart = Date.now();
  while (Date.now() - settleStart < timing.settleSeconds * 1000 && devices.some((d) => d.pending > 0)) await sleep(200);
  const settledIn = (Date.now() - settleStart) / 1000;
  // Live frames still on their way (an ordering hold is 250 ms).
  await sleep(2_000);
  const recovery = await recovering;
  const readingEnded = Date.now();
  await reader.stop();
  await Promise.all(devices.map((d) => d.stop()));
  log(`${spec.id}: settled in ${settledIn.toFixed(1)} s; counting`);

  const rows = (
    await ctx.sql.query<{ id: string; chat_id: string; seq: string; sender_id: string; client_message_id: string | null; text: string | null; at: string }>(
      `SELECT id, chat_id, seq, sender_id, client_message_id, text, (extract(epoch FROM created_at) * 1000)::float8 AS at
         FROM messages WHERE chat_id = ANY($1::uuid[])`,
      [[...members.keys()]],
    )
  ).map<StoredRow>((r) => ({ id: r.id, chatId: r.chat_id, seq: Number(r.seq), senderId: r.sender_id, clientMessageId: r.client_message_id, text: r.text, at: Number(r.at) }));
  const counts = audit({ ledger, devices, rows, members, faultWindow: [faultStart, faultEnd] });

  const sum = (pick: (d: Device) => Record<string, number>) => {
    const total: Record<string, number> = {};
    for (const d of devices) for (const [k, v] of Object.entries(pick(d))) total[k] = (total[k] ?? 0) + v;
    return total;
  };
  const logs = cluster.takeLogs();
  const byMessage: Record<string, number> = {};
  for (const line of logs) {
    const key = `${line.level >= 50 ? 'error' : 'warn'} ${line.msg.slice(0, 160)}`;
    byMessage[key] = (byMessage[key] ?? 0) + 1;
  }
  const seconds = (at: number) => Math.round((at - started) / 100) / 10;
  return {
    id: spec.id,
    title: spec.title,
    fault: { startedAt: seconds(faultStart), endedAt: seconds(faultEnd) },
    counts,
    recovery,
    http: {
      before: routeFigures(reader.samples, routes, started, faultStart),
      during: routeFigures(reader.samples, routes, faultStart, faultEnd),
      after: routeFigures(reader.samples, routes, faultEnd, readingEnded),
      whole: routeFigures(reader.samples, routes, started, readingEnded),
    },
    inversions: {
      own: devices.reduce((a, d) => a + d.inversions.own, 0),
      others: devices.reduce((a, d) => a + d.inversions.others, 0),
      samples: devices.flatMap((d) => d.inversions.samples.map((s) => ({ device: d.key, ...s }))).sort((a, b) => Number(a.own) - Number(b.own)).slice(0, 20),
    },
    sockets: {
      closes: sum((d) => d.closes),
      connectFailures: sum((d) => d.connectFailures),
      reconnects: devices.reduce((a, d) => a + d.reconnects, 0),
      logouts: devices.reduce((a, d) => a + d.logouts, 0),
      errorFrames: sum((d) => d.errorFrames),
    },
    settledIn: Math.round(settledIn * 10) / 10,
    serverLog: {
      warnings: logs.filter((l) => l.level < 50).length,
      errors: logs.filter((l) => l.level >= 50).length,
      byMessage,
      errorSamples: logs.filter((l) => l.level >= 50).slice(0, 10),
    },
  };
}

async function inflict(cluster: Cluster, fault: Fault, mode: CutMode, log: (m: string) => void): Promise<void> {
  switch (fault.kind) {
    case 'none':
      return;
    case 'kill': {
      const name = cluster.names()[fault.instance];
      log(`kill -9 ${name}`);
      await cluster.kill(fault.instance);
      await sleep(fault.downSeconds * 1000);
      log(`starting ${name} again`);
      const restarting = Date.now();
      await cluster.restart(fault.instance);
      log(`${name} healthy after ${((Date.now() - restarting) / 1000).toFixed(1)} s`);
      return;
    }
    case 'redis':
      log(`Redis cut (${mode}) for ${fault.seconds} s`);
      await cluster.cutRedis(mode);
      await sleep(fault.seconds * 1000);
      await cluster.restoreRedis();
      log('Redis restored');
      return;
    case 'postgres':
      log(`PostgreSQL cut (${mode}) for ${fault.seconds} s`);
      await cluster.cutPostgres(mode);
      await sleep(fault.seconds * 1000);
      await cluster.restorePostgres();
      log('PostgreSQL restored');
      return;
  }
}
