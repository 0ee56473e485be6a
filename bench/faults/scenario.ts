import { loadavg } from 'node:os';
import type { BenchUser } from '../fixtures';
import { api, expectOk } from '../lib/api';
import { Child } from '../lib/child';
import { sleep } from '../lib/context';
import { Sql } from '../lib/services';
import { CutMode } from '../lib/tcp-proxy';
import { audit, Counts, StoredRow } from './audit';
import { Cluster, LogLine } from './cluster';
import type { DeviceSpec } from './clients';
import type { DeviceReport, Ledger, SentRecord } from './device';
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
  /** Per second from the start of sending: messages created, and sends answered (by answer time). */
  timeline: Array<{ second: number; created: number; acked: number }>;
  /** The machine's 1-minute load average when sending began and when it ended (2 cores: above 2, processes wait for CPU). */
  load: [number, number];
  serverLog: { warnings: number; errors: number; byMessage: Record<string, number>; errorSamples: LogLine[] };
}

export interface RunContext {
  cluster: Cluster;
  fixtures: Child;
  /** The clients process (bench/faults/clients.ts). */
  clients: Child;
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
  const { cluster, fixtures, clients, timing } = ctx;
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

  // Each sender has a device on each instance; both write, in turn into the group and the sender's direct chat.
  const specs: DeviceSpec[] = [
    ...senders.flatMap((s, i) => [
      { key: `${s.nickname}/1`, userId: s.id, token: s.token, home: i % 2, writesTo: [group.id, directs[i]] },
      { key: `${s.nickname}/2`, userId: s.id, token: extra[s.id][0], home: (i + 1) % 2, writesTo: [group.id, directs[i]] },
    ]),
    { key: `${receiver.nickname}/1`, userId: receiver.id, token: receiver.token, home: 0, writesTo: [] },
    { key: `${receiver.nickname}/2`, userId: receiver.id, token: extra[receiver.id][0], home: 1, writesTo: [] },
  ];
  await clients.request('open', { urls: cluster.wsUrls, mark: tag, ackTimeoutMs: timing.ackTimeoutMs, devices: specs });

  const routes: Route[] = [
    { name: 'GET /api/users/me', path: '/api/users/me' },
    { name: 'GET /api/chats', path: '/api/chats' },
    { name: 'GET /api/chats/:id/messages', path: `/api/chats/${group.id}/messages?limit=50` },
    { name: 'GET /api/users/search?q=', path: `/api/users/search?q=${tag}` },
  ];
  const reader = new RouteReader(cluster.httpUrls, readerToken, routes);
  cluster.takeLogs();

  const started = Date.now();
  const loadAtStart = loadavg()[0];
  await clients.request('send', { perDevice: timing.ratePerSender / 2 });
  reader.start();
  log(`${spec.id}: sending (${timing.senders} senders × ${timing.ratePerSender} msg/s) for ${timing.beforeSeconds} s before the fault`);
  await sleep(timing.beforeSeconds * 1000);

  const faultStart = Date.now();
  await inflict(cluster, spec.fault, timing.cutMode, log);
  const faultEnd = Date.now();
  const recovering = checkRecovery(cluster.wsUrls, { a: probeA, b: probeB, chatAB: probeGroup.id, fresh }, faultEnd, RECOVERY_DEADLINE_MS);
  await sleep(timing.afterSeconds * 1000);

  await clients.request('stopSending');
  const loadAtEnd = loadavg()[0];
  const settledIn = await clients.request<number>('settle', { timeoutMs: timing.settleSeconds * 1000 });
  // Live frames still on their way (an ordering hold is 250 ms).
  await sleep(2_000);
  const recovery = await recovering;
  const readingEnded = Date.now();
  await reader.stop();
  const seen = await clients.request<{ records: SentRecord[]; devices: DeviceReport[] }>('finish');
  const ledger: Ledger = new Map(seen.records.map((r) => [r.clientMessageId, r]));
  const devices = seen.devices;
  log(`${spec.id}: settled in ${settledIn.toFixed(1)} s; counting`);

  const rows = (
    await ctx.sql.query<{ id: string; chat_id: string; seq: string; sender_id: string; client_message_id: string | null; text: string | null; at: string }>(
      `SELECT id, chat_id, seq, sender_id, client_message_id, text, (extract(epoch FROM created_at) * 1000)::float8 AS at
         FROM messages WHERE chat_id = ANY($1::uuid[])`,
      [[...members.keys()]],
    )
  ).map<StoredRow>((r) => ({ id: r.id, chatId: r.chat_id, seq: Number(r.seq), senderId: r.sender_id, clientMessageId: r.client_message_id, text: r.text, at: Number(r.at) }));
  const counts = audit({ ledger, devices, rows, members, faultWindow: [faultStart, faultEnd] });

  const sum = (pick: (d: DeviceReport) => Record<string, number>) => {
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
  const timeline: RunResult['timeline'] = [];
  const slot = (at: number) => {
    const second = Math.floor((at - started) / 1000);
    while (timeline.length <= second) timeline.push({ second: timeline.length, created: 0, acked: 0 });
    return timeline[second];
  };
  for (const r of ledger.values()) {
    slot(r.createdAt).created++;
    if (r.ackedAt) slot(r.ackedAt).acked++;
  }
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
    timeline,
    load: [Math.round(loadAtStart * 10) / 10, Math.round(loadAtEnd * 10) / 10],
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
      await cluster.cut('redis', mode);
      await sleep(fault.seconds * 1000);
      await cluster.restore('redis');
      log('Redis restored');
      return;
    case 'postgres':
      log(`PostgreSQL cut (${mode}) for ${fault.seconds} s`);
      await cluster.cut('postgres', mode);
      await sleep(fault.seconds * 1000);
      await cluster.restore('postgres');
      log('PostgreSQL restored');
      return;
  }
}
