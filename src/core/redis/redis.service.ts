import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import Redis, { RedisOptions } from 'ioredis';
import { withTimeout } from '../async/with-timeout';
import { AppConfig } from '../config/app-config';

/**
 * Owns every Redis connection of this process (commands, pub/sub, queues) so that shutdown
 * closes them all. Absent REDIS_URL, `enabled` is false and no connection is ever made.
 */
@Injectable()
export class RedisService implements OnApplicationShutdown {
  private readonly logger = new Logger('Redis');
  private readonly connections = new Set<Redis>();
  private commandClient: Redis | null = null;

  constructor(private readonly config: AppConfig) {}

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
