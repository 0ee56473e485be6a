import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { RawData, WebSocket } from 'ws';
import { serve } from '../lib/child';
import { encodeHistogram, newHistogram } from '../lib/histogram';

/**
 * WebSocket load generator, run as a child process of bench/run and driven over IPC.
 * It opens the sockets of its share of users, then sends `message:send` on its flows (a chat,
 * one sending user, the users who must receive it) either closed-loop (each flow keeps
 * `window` messages in flight) or open-loop (a fixed total rate, latency measured from the
 * scheduled send time so a stalled server cannot hide its queueing). Every delivery of
 * `message:new` on a receiving socket records send → receipt in an HDR histogram (µs).
 */

export interface ClientSpec {
  key: string;
  /** Session token for the app (sent as the h2v_session cookie on the upgrade). */
  token?: string;
  /** User id for the baseline relay (`?user=`). */
  user?: string;
  /** Another server than the job's `url` (scenario 5: senders on one instance, receivers on the other). */
  url?: string;
}

export interface Flow {
  chatId: string;
  sender: string;
  receivers: string[];
}

export interface ConnectResult {
  connected: number;
  failed: number;
  ms: number;
  errors: Record<string, number>;
}

export interface PhaseResult {
  sent: number;
  completed: number;
  deliveries: number;
  lost: number;
  errors: Record<string, number>;
  seconds: number;
  histogram: string;
}

const MARK = 'bench:';

interface Pending {
  sentAt: number;
  remaining: number;
  sender: string;
  flow: number;
}

const sockets = new Map<string, WebSocket>();
let flows: Flow[] = [];
const pending = new Map<string, Pending>();
let errors: Record<string, number> = {};
interface Running {
  histogram: ReturnType<typeof newHistogram>;
  running: boolean;
  closed: boolean;
  endAt: number;
  completed: number;
  deliveries: number;
}
let phase: Running | null = null;
let probe: ((outcome: string) => void) | null = null;

function countError(code: string): void {
  errors[code] = (errors[code] ?? 0) + 1;
}

function onFrame(key: string, data: RawData): void {
  const text = data.toString();
  if (!text.startsWith('{"event":"message:new"')) {
    const event = /^\{"event":"([^"]+)"/.exec(text)?.[1];
    if (event === 'error' || event === 'message:send:error') {
      const code = /"code":"([^"]+)"/.exec(text)?.[1] ?? 'UNKNOWN';
      countError(`${event} ${code}`);
      probe?.(`${event} ${code}: ${/"message":"([^"]*)"/.exec(text)?.[1] ?? ''}`);
    }
    return;
  }
  const at = text.indexOf(MARK);
  if (at < 0) return;
  const id = text.substr(at + MARK.length, 36);
  const entry = pending.get(id);
  if (!entry || entry.sender === key) return;
  const now = performance.now();
  if (phase) {
    phase.histogram.recordValue(Math.max(1, Math.round((now - entry.sentAt) * 1000)));
    if (now <= phase.endAt) phase.deliveries++;
  }
  if (--entry.remaining > 0) return;
  pending.delete(id);
  probe?.('ok');
  if (!phase) return;
  if (now <= phase.endAt) phase.completed++;
  if (phase.closed && phase.running) send(entry.flow, now);
}

function send(flowIndex: number, scheduledAt: number): void {
  const flow = flows[flowIndex];
  const socket = sockets.get(flow.sender);
  if (!socket || socket.readyState !== WebSocket.OPEN) return countError('sender socket closed');
  const id = randomUUID();
  pending.set(id, { sentAt: scheduledAt, remaining: flow.receivers.length, sender: flow.sender, flow: flowIndex });
  socket.send(JSON.stringify({ event: 'message:send', payload: { chatId: flow.chatId, text: MARK + id, clientMessageId: id } }));
}

function open(url: string, spec: ClientSpec, localAddress: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const base = spec.url ?? url;
    const target = spec.user ? `${base}?user=${encodeURIComponent(spec.user)}` : base;
    const socket = new WebSocket(target, {
      headers: spec.token ? { Cookie: `h2v_session=${spec.token}` } : undefined,
      localAddress,
      perMessageDeflate: false,
      handshakeTimeout: 30_000,
    });
    let settled = false;
    const fail = (reason: string) => {
      if (settled) return;
      settled = true;
      socket.terminate();
      reject(new Error(reason));
    };
    socket.on('message', (data) => {
      if (!settled) {
        if (data.toString().startsWith('{"event":"auth:ok"')) {
          settled = true;
          sockets.set(spec.key, socket);
          resolve();
        }
        return;
      }
      onFrame(spec.key, data);
    });
    socket.on('error', (error) => fail((error as NodeJS.ErrnoException).code ?? error.message));
    socket.on('close', (code) => {
      sockets.delete(spec.key);
      if (!settled) fail(`closed ${code}`);
    });
  });
}

async function connect(args: { url: string; clients: ClientSpec[]; concurrency: number; localAddresses?: string[] }): Promise<ConnectResult> {
  const started = performance.now();
  const result: ConnectResult = { connected: 0, failed: 0, ms: 0, errors: {} };
  let next = 0;
  const worker = async () => {
    while (next < args.clients.length) {
      const index = next++;
      const local = args.localAddresses?.length ? args.localAddresses[index % args.localAddresses.length] : undefined;
      try {
        await open(args.url, args.clients[index], local);
        result.connected++;
      } catch (error) {
        result.failed++;
        const reason = (error as Error).message;
        result.errors[reason] = (result.errors[reason] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(args.concurrency, args.clients.length) }, worker));
  result.ms = Math.round(performance.now() - started);
  return result;
}

async function runPhase(args: { mode: 'closed' | 'open'; seconds: number; window?: number; rate?: number; drainMs?: number }): Promise<PhaseResult> {
  pending.clear();
  errors = {};
  const start = performance.now();
  const current: Running = (phase = { histogram: newHistogram(), running: true, closed: args.mode === 'closed', endAt: start + args.seconds * 1000, completed: 0, deliveries: 0 });
  let sent = 0;
  if (args.mode === 'closed') {
    for (let w = 0; w < (args.window ?? 1); w++) for (let f = 0; f < flows.length; f++, sent++) send(f, performance.now());
    await sleep(args.seconds * 1000);
  } else {
    const interval = 1000 / args.rate!;
    while (performance.now() < current.endAt) {
      const due = Math.min(Math.floor((performance.now() - start) / interval), Math.floor((args.seconds * 1000) / interval));
      for (; sent < due; sent++) send(sent % flows.length, start + sent * interval);
      await sleep(1);
    }
  }
  current.running = false;
  const drainUntil = performance.now() + (args.drainMs ?? 5_000);
  while (pending.size && performance.now() < drainUntil) await sleep(10);
  if (args.mode === 'closed') sent = current.completed + pending.size;
  const result: PhaseResult = {
    sent,
    completed: current.completed,
    deliveries: current.deliveries,
    lost: pending.size,
    errors,
    seconds: args.seconds,
    histogram: encodeHistogram(current.histogram),
  };
  phase = null;
  pending.clear();
  return result;
}

/** Sends one message on the first flow: 'ok' once delivered, else the refusal or 'timeout'. */
async function runProbe(args: { timeoutMs: number }): Promise<string> {
  const outcome = new Promise<string>((resolve) => {
    probe = resolve;
    setTimeout(() => resolve('timeout: no message:new within ' + args.timeoutMs + ' ms'), args.timeoutMs);
  });
  send(0, performance.now());
  const result = await outcome;
  probe = null;
  pending.clear();
  return result;
}

async function closeAll(): Promise<number> {
  const all = [...sockets.values()];
  await Promise.all(
    all.map(
      (socket) =>
        new Promise<void>((resolve) => {
          if (socket.readyState === WebSocket.CLOSED) return resolve();
          socket.once('close', () => resolve());
          socket.close(1000);
          setTimeout(() => (socket.terminate(), resolve()), 5_000).unref();
        }),
    ),
  );
  sockets.clear();
  return all.length;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

serve({
  connect,
  setFlows: async (args: { flows: Flow[] }) => {
    flows = args.flows;
    return flows.length;
  },
  phase: runPhase,
  probe: runProbe,
  close: closeAll,
});
