import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import Redis, { RedisOptions } from 'ioredis';
import { withTimeout } from '../async/with-timeout';
import { AppConfig } from '../config/app-config';

/** The longest a request path waits for Redis before it takes the degraded answer. */
export const REDIS_REQUEST_TIMEOUT_MS = 1_000;
/** Commands in a row left unanswered before every call degrades at once (a partition). */
const UNANSWERED_TO_TRIP = 3;
/** How long start-up waits for the first connection before going on degraded. */
const STARTUP_WAIT_MS = 5_000;

/**
 * Owns every Redis connection of this process (commands, pub/sub, queues) so that shutdown
 * closes them all. Absent REDIS_URL, `enabled` is false and no connection is ever made.
 */
@Injectable()
export class RedisService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Redis');
  private readonly connections = new Set<Redis>();
  private commandClient: Redis | null = null;
  private lastDegradedLog = 0;
  /** Set after UNANSWERED_TO_TRIP commands in a row went unanswered: calls degrade at once until a probe PING is answered. */
  private unresponsive = false;
  private unansweredInARow = 0;
  private probing = false;
  private closing = false;

  constructor(private readonly config: AppConfig) {}

  /** Connects the command client up front, so the first requests do not find it still connecting. */
  async onModuleInit(): Promise<void> {
    if (!this.enabled) return;
    const client = this.client;
    if (client.status === 'ready') return;
    await withTimeout(new Promise((resolve) => client.once('ready', resolve)), STARTUP_WAIT_MS, null);
  }

  get enabled(): boolean {
    return this.config.usesRedis;
  }

  /** Key prefix that keeps several deployments (or test files) apart on one Redis. */
  key(...parts: string[]): string {
    return [this.config.values.redisPrefix, ...parts].join(':');
  }

  /**
   * The shared connection for ordinary commands. Auto-pipelining sends every command issued in
   * one tick in a single write (a request's rate-limit, presence and publish commands, a send's
   * publishes): socket writes are what costs most here. Order is kept.
   */
  get client(): Redis {
    this.commandClient ??= this.connect('commands', { enableAutoPipelining: true });
    return this.commandClient;
  }

  /**
   * Redis on a request path, where an outage must degrade instead of stall: while the command
   * connection is down the answer is `fallback` at once (nothing waits in the offline queue to
   * replay stale work later), and a command slower than `timeoutMs` (an unresponsive server)
   * also settles with `fallback`. Errors too. Logged at most every 10 s.
   */
  async bounded<T, F>(label: string, work: (client: Redis) => Promise<T>, fallback: F, timeoutMs = REDIS_REQUEST_TIMEOUT_MS): Promise<T | F> {
    const client = this.client;
    if (client.status !== 'ready') return this.degraded(label, `connection ${client.status}`, fallback);
    // A partition (no answer, no error): after a few commands waited out their bound, the rest
    // do not each wait theirs; a probe finds out when Redis answers again.
    if (this.unresponsive) return this.degraded(label, 'not answering', fallback);
    const outcome = await withTimeout(
      work(client).then(
        (value) => ({ value }),
        (error: Error) => ({ error }),
      ),
      timeoutMs,
      null,
    );
    if (!outcome) {
      // One late answer can be this process's own event loop stalling; several in a row are Redis.
      if (++this.unansweredInARow >= UNANSWERED_TO_TRIP) {
        this.unresponsive = true;
        this.probe();
      }
      return this.degraded(label, `no answer within ${timeoutMs} ms`, fallback);
    }
    this.unansweredInARow = 0;
    if ('error' in outcome) return this.degraded(label, outcome.error.message, fallback);
    return outcome.value;
  }

  /** PINGs once a second while Redis is unresponsive; the first answer ends the degraded mode. */
  private probe(): void {
    if (this.probing || this.closing) return;
    this.probing = true;
    void withTimeout(this.client.ping().catch(() => null), REDIS_REQUEST_TIMEOUT_MS, null).then((answer) => {
      this.probing = false;
      if (answer === 'PONG') {
        this.unresponsive = false;
        this.unansweredInARow = 0;
      }
      else setTimeout(() => this.probe(), 1_000).unref();
    });
  }

  private degraded<F>(label: string, why: string, fallback: F): F {
    const now = Date.now();
    if (now - this.lastDegradedLog > 10_000) {
      this.lastDegradedLog = now;
      this.logger.warn(`${label}: Redis unavailable (${why}); degraded answer`);
    }
    return fallback;
  }

  /** A dedicated connection (pub/sub subscribers and BullMQ workers need their own). */
  connect(name: string, options: RedisOptions = {}): Redis {
    const url = this.config.values.redisUrl;
    if (!url) throw new Error('Redis is not configured (REDIS_URL is unset)');
    const connection = new Redis(url, { connectionName: `h2v:${name}`, lazyConnect: false, ...options });
    let lastError = '';
    connection.on('error', (error: Error) => {
      if (error.message !== lastError) this.logger.warn(`${name}: ${error.message}`);
      lastError = error.message;
    });
    connection.on('ready', () => (lastError = ''));
    this.connections.add(connection);
    connection.once('end', () => this.connections.delete(connection));
    return connection;
  }

  async ping(timeoutMs: number): Promise<boolean> {
    if (!this.enabled) return true;
    return withTimeout(this.client.ping().then((r) => r === 'PONG', () => false), timeoutMs, false);
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    await Promise.all(
      [...this.connections].map(async (c) => {
        if (c.status !== 'ready') return c.disconnect();
        const timer = setTimeout(() => c.disconnect(), 2000);
        await c.quit().catch(() => c.disconnect());
        clearTimeout(timer);
      }),
    );
    this.connections.clear();
  }
}
