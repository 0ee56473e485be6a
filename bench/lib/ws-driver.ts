import type { ClientSpec, ConnectResult, Flow, PhaseResult } from '../load/ws-load';
import { Child } from './child';
import { Latency, latencyOf, mergeHistograms } from './histogram';
import { shares } from './context';

/** Connects of scenario 3 in flight at once over all generators (BENCH_CONNECT_CONCURRENCY: a reconnect storm asks for more). */
const CONNECT_CONCURRENCY = Number(process.env.BENCH_CONNECT_CONCURRENCY) || 400;

/** Loopback source addresses, so 20,000 sockets per run never run out of ephemeral ports. */
export function sourceAddresses(generator: number): string[] {
  return Array.from({ length: 40 }, (_, i) => `127.0.${10 + generator}.${i + 2}`);
}

export interface Phase {
  mode: 'closed' | 'open';
  seconds: number;
  window?: number;
  /** Total rate (messages/s) over all generators. */
  rate?: number;
}

export interface PhaseFigures {
  /** Messages delivered to all their receivers within the window, per second. */
  messagesPerSecond: number;
  deliveriesPerSecond: number;
  /** Messages delivered to all their receivers within the window. */
  completed: number;
  sent: number;
  lost: number;
  errors: Record<string, number>;
  latency: Latency;
}

/** One WebSocket workload: sockets spread over the generators, each holding whole flows. */
export class WsWorkload {
  private constructor(private readonly generators: Child[]) {}

  /**
   * Connects every flow's users on the generator that owns the flow (a flow's sender and
   * receivers live in one process, so one clock times each message).
   */
  static async open(generators: Child[], url: string, flows: Flow[], clients: Map<string, ClientSpec>): Promise<{ workload: WsWorkload; connect: ConnectResult }> {
    const used = generators.slice(0, Math.min(generators.length, flows.length));
    const parts = shares(flows, used.length);
    const started = Date.now();
    const results = await Promise.all(
      used.map(async (generator, g) => {
        const keys = new Set(parts[g].flatMap((f) => [f.sender, ...f.receivers]));
        const specs = [...keys].map((k) => clients.get(k)!);
        const result = await generator.request<ConnectResult>('connect', { url, clients: specs, concurrency: 100, localAddresses: sourceAddresses(g) });
        await generator.request('setFlows', { flows: parts[g] });
        return result;
      }),
    );
    const connect = sumConnect(results, Date.now() - started);
    return { workload: new WsWorkload(used), connect };
  }

  /** One message on the first flow of the first generator: 'ok' or why it was not delivered. */
  probe(): Promise<string> {
    return this.generators[0].request<string>('probe', { timeoutMs: 5_000 });
  }

  async phase(phase: Phase): Promise<PhaseFigures> {
    const n = this.generators.length;
    const results = await Promise.all(
      this.generators.map((g) => g.request<PhaseResult>('phase', { ...phase, rate: phase.rate ? phase.rate / n : undefined })),
    );
    const errors: Record<string, number> = {};
    for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    const sum = (f: (r: PhaseResult) => number) => results.reduce((a, r) => a + f(r), 0);
    return {
      messagesPerSecond: Math.round(sum((r) => r.completed) / phase.seconds),
      deliveriesPerSecond: Math.round(sum((r) => r.deliveries) / phase.seconds),
      completed: sum((r) => r.completed),
      sent: sum((r) => r.sent),
      lost: sum((r) => r.lost),
      errors,
      latency: latencyOf(mergeHistograms(results.map((r) => r.histogram))),
    };
  }

  async close(): Promise<void> {
    await Promise.all(this.generators.map((g) => g.request('close')));
  }
}

/** Opens idle sockets spread over the generators (no flows). */
export async function openIdle(generators: Child[], url: string, clients: ClientSpec[]): Promise<ConnectResult> {
  const parts = shares(clients, generators.length);
  const started = Date.now();
  const results = await Promise.all(
    generators.map((g, i) => g.request<ConnectResult>('connect', { url, clients: parts[i], concurrency: Math.ceil(CONNECT_CONCURRENCY / generators.length), localAddresses: sourceAddresses(i) })),
  );
  return sumConnect(results, Date.now() - started);
}

export async function closeAll(generators: Child[]): Promise<void> {
  await Promise.all(generators.map((g) => g.request('close')));
}

function sumConnect(results: ConnectResult[], ms: number): ConnectResult {
  const errors: Record<string, number> = {};
  for (const r of results) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
  return { connected: results.reduce((a, r) => a + r.connected, 0), failed: results.reduce((a, r) => a + r.failed, 0), ms, errors };
}
