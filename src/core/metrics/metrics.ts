import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Latency buckets (seconds) of request-like work: 0.5 ms to 10 s. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Every metric of this process, in one catalogue, on a registry of its own (two app instances in
 * one test process must not share counters). Owners update them where the work happens; values
 * that are cheaper to read than to track (pool sizes, queue depths) come from collectors that run
 * on each scrape. Served in the Prometheus text format by MetricsController and MetricsServer.
 */
@Injectable()
export class Metrics implements OnModuleInit {
  private readonly logger = new Logger('Metrics');
  readonly registry = new Registry();
  private readonly collectors: Array<() => unknown> = [];

  readonly httpRequests = new Counter({
    name: 'h2v_http_requests_total',
    help: 'HTTP requests answered, by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  readonly httpDuration = new Histogram({
    name: 'h2v_http_request_duration_seconds',
    help: 'HTTP request latency, from the first middleware to the last byte handed to the socket, by method and route template',
    labelNames: ['method', 'route'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly socketConnections = new Gauge({ name: 'h2v_socket_connections', help: 'Open WebSocket connections on this instance', registers: [this.registry] });
  readonly socketConnects = new Counter({ name: 'h2v_socket_connects_total', help: 'WebSocket connections opened on this instance', registers: [this.registry] });
  readonly eventsDelivered = new Counter({
    name: 'h2v_events_delivered_total',
    help: 'Realtime event frames written to sockets of this instance (one per socket), from this instance or the bus',
    registers: [this.registry],
  });
  readonly busPublished = new Counter({ name: 'h2v_bus_frames_published_total', help: 'Messages this instance published on the realtime bus (Redis)', registers: [this.registry] });
  readonly busReceived = new Counter({
    name: 'h2v_bus_frames_received_total',
    help: "Messages this instance received from other instances on the realtime bus (its own are skipped and not counted)",
    registers: [this.registry],
  });
  /** Issue 19's measure of the bus: what an instance receives against what it has sockets for. */
  readonly busEventsReceived = new Counter({
    name: 'h2v_bus_events_received_total',
    help: 'Records (one per published event or disconnect) in the bus messages this instance received from other instances',
    registers: [this.registry],
  });
  readonly busEventsDelivered = new Counter({
    name: 'h2v_bus_events_delivered_total',
    help: 'Of the received bus records, those with at least one recipient socket on this instance',
    registers: [this.registry],
  });
  readonly messagesStored = new Counter({ name: 'h2v_messages_stored_total', help: 'Messages stored by message:send (retries of a stored clientMessageId excluded)', registers: [this.registry] });
  readonly sendDuration = new Histogram({
    name: 'h2v_message_send_duration_seconds',
    help: "message:send on this instance: from the validated frame to the message handed to this instance's sockets (stored, committed, published)",
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly sendBatchSize = new Histogram({
    name: 'h2v_send_batch_size',
    help: 'Messages written by one group-commit statement of message:send',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });
  readonly dbPoolWait = new Histogram({
    name: 'h2v_db_pool_wait_seconds',
    help: 'Time a query waited for a PostgreSQL pool connection',
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly dbPool = new Gauge({
    name: 'h2v_db_pool_connections',
    help: 'PostgreSQL pool: connections open (total), idle, and queries waiting for one (waiting)',
    labelNames: ['state'] as const,
    registers: [this.registry],
  });
  readonly queueJobs = new Gauge({ name: 'h2v_queue_jobs', help: 'Jobs per queue and state', labelNames: ['queue', 'state'] as const, registers: [this.registry] });

  /** Process metrics: CPU, memory, heap, GC, event-loop lag (nodejs_eventloop_lag_*), open handles. */
  onModuleInit(): void {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Runs `collect` before every scrape; it sets gauges from state that is cheaper to read than to track. */
  addCollector(collect: () => unknown): void {
    this.collectors.push(collect);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The Prometheus text exposition of every metric. A failing collector leaves its gauges as they were. */
  async scrape(): Promise<string> {
    await Promise.all(
      this.collectors.map(async (collect) => {
        try {
          await collect();
        } catch (error) {
          this.logger.warn(`metrics collector failed: ${(error as Error).message}`);
        }
      }),
    );
    return this.registry.metrics();
  }
}
