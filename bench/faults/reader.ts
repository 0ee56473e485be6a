import { performance } from 'node:perf_hooks';
import { newHistogram, latencyOf, Latency } from '../lib/histogram';

export interface Route {
  name: string;
  path: string;
}

/** One request of the reader: when it started (epoch ms), how long it took, what came back. */
export interface Sample {
  at: number;
  route: string;
  ms: number;
  /** HTTP status, or 0 when no answer came (timeout, connection refused on every instance). */
  status: number;
  code?: string;
  /** The Retry-After header, when there was one. */
  retryAfter?: string;
  /** The first instance refused the connection and the other one answered (a load balancer's retry). */
  failover: boolean;
}

export interface RouteFigures {
  route: string;
  requests: number;
  latency: Latency;
  /** 503 SERVICE_UNAVAILABLE answers: what the API documents for a dependency outage. */
  unavailable: number;
  /** Of those, answers without a Retry-After header. */
  unavailableWithoutRetryAfter: number;
  /** Any other 5xx: never acceptable. */
  otherServerErrors: Record<string, number>;
  /** Other failed statuses (4xx), by status and code. */
  clientErrors: Record<string, number>;
  /** No answer within 10 s, or no instance accepting the connection. */
  noAnswer: number;
  failovers: number;
}

const REQUEST_TIMEOUT_MS = 10_000;

/**
 * A user reading in a loop, one request at a time every `intervalMs`: the routes in turn, each
 * route alternating between the instances. A connection refused by one instance is retried once
 * on the other, as a load balancer does; timings include that retry.
 */
export class RouteReader {
  readonly samples: Sample[] = [];
  private running = false;
  private loop: Promise<void> | null = null;

  constructor(
    private readonly baseUrls: string[],
    private readonly token: string,
    private readonly routes: Route[],
    private readonly intervalMs = 50,
  ) {}

  start(): void {
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    for (let i = 0; this.running; i++) {
      const started = performance.now();
      const route = this.routes[i % this.routes.length];
      const first = Math.floor(i / this.routes.length) % this.baseUrls.length;
      this.samples.push(await this.request(route, first));
      const wait = this.intervalMs - (performance.now() - started);
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  private async request(route: Route, first: number): Promise<Sample> {
    const at = Date.now();
    const started = performance.now();
    let failover = false;
    for (let tries = 0; tries < this.baseUrls.length; tries++) {
      const base = this.baseUrls[(first + tries) % this.baseUrls.length];
      try {
        const response = await fetch(base + route.path, { headers: { Authorization: `Bearer ${this.token}` }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
        const body = (await response.json().catch(() => ({}))) as { code?: string };
        const retryAfter = response.headers.get('retry-after') ?? undefined;
        return { at, route: route.name, ms: performance.now() - started, status: response.status, code: body.code, retryAfter, failover };
      } catch (error) {
        const cause = (error as { cause?: { code?: string } }).cause?.code;
        if (cause !== 'ECONNREFUSED') return { at, route: route.name, ms: performance.now() - started, status: 0, code: cause ?? (error as Error).name, failover };
        failover = true;
      }
    }
    return { at, route: route.name, ms: performance.now() - started, status: 0, code: 'ECONNREFUSED', failover };
  }
}

/** Figures per route over the samples that started within [from, to). */
export function routeFigures(samples: Sample[], routes: Route[], from: number, to: number): RouteFigures[] {
  return routes.map((route) => {
    const histogram = newHistogram();
    const figures: RouteFigures = { route: route.name, requests: 0, latency: latencyOf(histogram), unavailable: 0, unavailableWithoutRetryAfter: 0, otherServerErrors: {}, clientErrors: {}, noAnswer: 0, failovers: 0 };
    for (const s of samples) {
      if (s.route !== route.name || s.at < from || s.at >= to) continue;
      figures.requests++;
      histogram.recordValue(Math.max(1, Math.round(s.ms * 1000)));
      if (s.failover) figures.failovers++;
      const label = `${s.status} ${s.code ?? ''}`.trim();
      if (s.status === 0) figures.noAnswer++;
      else if (s.status === 503) {
        figures.unavailable++;
        if (!s.retryAfter) figures.unavailableWithoutRetryAfter++;
      }
      else if (s.status >= 500) figures.otherServerErrors[label] = (figures.otherServerErrors[label] ?? 0) + 1;
      else if (s.status >= 400) figures.clientErrors[label] = (figures.clientErrors[label] ?? 0) + 1;
    }
    figures.latency = latencyOf(histogram);
    return figures;
  });
}
