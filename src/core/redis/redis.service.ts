import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import Redis, { Cluster, RedisOptions, ReplyError } from 'ioredis';
import { withTimeout } from '../async/with-timeout';
import { AppConfig } from '../config/app-config';
import { ConfigError } from '../config/env.schema';
import { parseRedisUrl, RedisServer, RedisTarget } from '../config/redis-url';
import { ClusterPipe } from './cluster-pipe';
import { RespPipe, RespSetupRefused } from './resp-pipe';

/** A connection to the one Redis server or to the Redis Cluster REDIS_URL names: the same commands either way. */
export type RedisClient = Redis | Cluster;
/** What the event log's hot path writes through: RespPipe on one server, ClusterPipe on a cluster. */
export type CommandPipe = Pick<RespPipe, 'exec' | 'close'>;

/** The longest a request path waits for Redis before it takes the degraded answer. */
export const REDIS_REQUEST_TIMEOUT_MS = 1_000;
/** Commands in a row left unanswered before every call degrades at once (a partition). */
const UNANSWERED_TO_TRIP = 3;
/** How long start-up waits for the first connection before going on degraded. */
const STARTUP_WAIT_MS = 5_000;

/**
 * Owns every Redis connection of this process (commands, pub/sub, queues) so that shutdown
 * closes them all. Absent REDIS_URL, `enabled` is false and no connection is ever made. With a
 * `redis+cluster://` URL every connection is an ioredis Cluster (`cluster` is true): callers
 * keep the keys of one multi-key command or script in one hash slot (`{…}` hash tags).
 */
@Injectable()
export class RedisService implements OnModuleInit, OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Redis');
  private readonly connections = new Set<RedisClient>();
  private readonly pipes = new Set<CommandPipe>();
  private commandClient: RedisClient | null = null;
  private lastDegradedLog = 0;
  /** Set after UNANSWERED_TO_TRIP commands in a row went unanswered: calls degrade at once until a probe PING is answered. */
  private unresponsive = false;
  private unansweredInARow = 0;
  private probing = false;
  private closing = false;
  private parsedTarget: RedisTarget | undefined;

  constructor(private readonly config: AppConfig) {}

  /**
   * Connects the command client up front, so the first requests do not find it still connecting,
   * and checks that Redis selects the database of REDIS_URL (see checkDatabase).
   */
  async onModuleInit(): Promise<void> {
    if (!this.enabled) return;
    if (await this.commandsReady(STARTUP_WAIT_MS)) return this.checkDatabase();
    // Started degraded: checked once Redis answers, too late to refuse the start, so said loudly.
    this.client.once('ready', () => void this.checkDatabase().catch((error: Error) => this.logger.error(error.message)));
  }

  /**
   * Resolves true once the command connection is ready, false if it is not within `timeoutMs`.
   * Each connection reconnects on its own backoff: one that came back (a subscriber) can wait
   * here for the connection its follow-up work goes through.
   */
  async commandsReady(timeoutMs: number): Promise<boolean> {
    const client = this.client;
    if (client.status === 'ready') return true;
    let onReady!: () => void;
    const ready = new Promise<boolean>((resolve) => {
      onReady = () => resolve(true);
      client.once('ready', onReady);
    });
    const outcome = await withTimeout(ready, timeoutMs, false);
    client.off('ready', onReady);
    return outcome;
  }

  /**
   * The event log's pipes set up as every connection is (AUTH, SELECT, its script): refused
   * there, the log could keep nothing, so start-up fails. A pipe that cannot connect (Redis
   * down or slow) is the degraded mode, not a refusal.
   */
  async onApplicationBootstrap(): Promise<void> {
    if (!this.enabled || this.client.status !== 'ready') return;
    for (const pipe of this.pipes) {
      if (!(pipe instanceof RespPipe)) continue;
      await pipe.ready().catch((error: Error) => {
        if (error instanceof RespSetupRefused) throw new ConfigError([`REDIS_URL: Redis refused the event log's connection (${error.message})`]);
      });
    }
  }

  /**
   * A database Redis cannot select (past its `databases`, or any but 0 on a cluster node) fails
   * start-up: ioredis logs the refused SELECT of each connection and carries on in database 0,
   * where this deployment's keys would mix with another's. SELECT again, to have Redis's reason.
   */
  private async checkDatabase(): Promise<void> {
    const target = this.target;
    if (target.kind !== 'single' || !target.db) return;
    const refusal = await withTimeout(
      (this.client as Redis).select(target.db).then(
        () => null,
        (error: Error) => (error instanceof ReplyError ? error.message : null),
      ),
      STARTUP_WAIT_MS,
      null,
    );
    if (refusal) {
      throw new ConfigError([
        `REDIS_URL names database ${target.db}, which Redis refuses (${refusal}): a Redis has databases 0 to \`databases\` - 1 (16 by default), a node of a Redis Cluster database 0 only`,
      ]);
    }
  }

  get enabled(): boolean {
    return this.config.usesRedis;
  }

  /** REDIS_URL names a Redis Cluster: a command's keys must share a slot, and RespPipe cannot route. */
  get cluster(): boolean {
    return this.enabled && this.target.kind === 'cluster';
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
  get client(): RedisClient {
    this.commandClient ??= this.connect('commands', { enableAutoPipelining: true });
    return this.commandClient;
  }

  /**
   * Redis on a request path, where an outage must degrade instead of stall: while the command
   * connection is down the answer is `fallback` at once (nothing waits in the offline queue to
   * replay stale work later), and a command slower than `timeoutMs` (an unresponsive server)
   * also settles with `fallback`. Errors too. Logged at most every 10 s.
   */
  async bounded<T, F>(label: string, work: (client: RedisClient) => Promise<T>, fallback: F, timeoutMs = REDIS_REQUEST_TIMEOUT_MS): Promise<T | F> {
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

  /**
   * A dedicated connection for pub/sub subscriptions, classic (SUBSCRIBE) and sharded
   * (SSUBSCRIBE). On a cluster it keeps one subscriber per primary (ioredis `shardedSubscribers`):
   * without it a sharded subscription is made and its messages never arrive.
   */
  subscriber(name: string): RedisClient {
    return this.connect(name, { maxRetriesPerRequest: null }, { shardedSubscribers: true });
  }

  /** A dedicated connection (pub/sub subscribers and BullMQ workers need their own). */
  connect(name: string, options: RedisOptions = {}, cluster: { shardedSubscribers?: boolean } = {}): RedisClient {
    const target = this.target;
    const connection =
      target.kind === 'single'
        ? new Redis({ ...serverOptions(target), connectionName: `h2v:${name}`, lazyConnect: false, ...options })
        : clusterConnection(target, name, options, cluster.shardedSubscribers ?? false);
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

  /**
   * A bare pipelining connection for a hot path of many small commands (RespPipe), bounded like
   * `bounded` calls: a batch not answered within REDIS_REQUEST_TIMEOUT_MS fails. `preamble`
   * gives the commands each new connection sends first (e.g. SCRIPT LOAD).
   */
  pipe(name: string, preamble: () => string[] = () => []): CommandPipe {
    const target = this.target;
    const pipe =
      target.kind === 'single'
        ? new RespPipe(target, name, preamble, REDIS_REQUEST_TIMEOUT_MS)
        : new ClusterPipe(() => this.client as Cluster, preamble, REDIS_REQUEST_TIMEOUT_MS);
    this.pipes.add(pipe);
    return pipe;
  }

  /** What REDIS_URL names (validated at start-up by env.schema). */
  private get target(): RedisTarget {
    const url = this.config.values.redisUrl;
    if (!url) throw new Error('Redis is not configured (REDIS_URL is unset)');
    this.parsedTarget ??= parseRedisUrl(url);
    if (!this.parsedTarget) throw new Error('REDIS_URL is not a redis:// or redis+cluster:// URL');
    return this.parsedTarget;
  }

  async ping(timeoutMs: number): Promise<boolean> {
    if (!this.enabled) return true;
    return withTimeout(this.client.ping().then((r) => r === 'PONG', () => false), timeoutMs, false);
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    for (const pipe of this.pipes) pipe.close();
    await Promise.all([...this.connections].map(closeConnection));
    this.connections.clear();
  }
}

/**
 * Closes a connection: politely (QUIT) when it is up, for 2 s at most, else at once. A QUIT on a
 * connection still trying to reach a Redis that is down would wait for it for good.
 */
export async function closeConnection(c: RedisClient): Promise<void> {
  if (c.status !== 'ready') return c.disconnect();
  const timer = setTimeout(() => c.disconnect(), 2000);
  await c.quit().catch(() => c.disconnect());
  clearTimeout(timer);
}

/** What ioredis connects to one server with: the fields RespPipe connects with too (parseRedisUrl). */
function serverOptions({ host, port, db, username, password, tls }: RedisServer): RedisOptions {
  return { host, port, db, username, password, ...(tls ? { tls: {} } : {}) };
}

/**
 * An ioredis Cluster with the per-connection options applied to every node's connection. Reads
 * go to primaries (scaleReads 'master'): a presence or lease read must see the write just made.
 * The offline queue and auto-pipelining are the cluster's own options (auto-pipelining then
 * batches per node).
 */
function clusterConnection(target: Extract<RedisTarget, { kind: 'cluster' }>, name: string, options: RedisOptions, shardedSubscribers: boolean): Cluster {
  const { enableAutoPipelining, enableOfflineQueue, ...nodeOptions } = options;
  return new Cluster(target.nodes, {
    scaleReads: 'master',
    shardedSubscribers,
    lazyConnect: false,
    enableAutoPipelining: enableAutoPipelining ?? false,
    enableOfflineQueue: enableOfflineQueue ?? true,
    redisOptions: {
      connectionName: `h2v:${name}`,
      username: target.username,
      password: target.password,
      ...(target.tls ? { tls: {} } : {}),
      ...nodeOptions,
    },
  });
}
