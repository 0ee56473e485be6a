import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type Redis from 'ioredis';
import { RedisService } from '../core/redis/redis.service';
import { ClientEventName, ClientEvents, frame } from './client-events';
import { ConnectionRegistry, DisconnectTarget } from './connection-registry';
import { RealtimePublisher } from './realtime-publisher';

type BusMessage =
  | { kind: 'deliver'; userIds: string[]; data: string }
  | { kind: 'disconnect'; target: DisconnectTarget; code: number; reason: string };

/**
 * Several instances: every publish goes through one Redis pub/sub channel and each instance
 * delivers to its own sockets. The frame is serialised once by the publisher.
 */
@Injectable()
export class RedisRealtimePublisher extends RealtimePublisher implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('RealtimeBus');
  private subscriber: Redis | null = null;
  private readonly channel: string;

  constructor(
    private readonly redis: RedisService,
    private readonly registry: ConnectionRegistry,
  ) {
    super();
    this.channel = redis.key('realtime');
  }

  async onModuleInit(): Promise<void> {
    this.subscriber = this.redis.connect('realtime:subscriber', { maxRetriesPerRequest: null });
    this.subscriber.on('message', (_channel: string, raw: string) => this.receive(raw));
    await this.subscriber.subscribe(this.channel);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.subscriber?.quit().catch(() => undefined);
  }

  async toUsers<E extends ClientEventName>(userIds: Iterable<string>, event: E, payload: ClientEvents[E]): Promise<void> {
    const ids = [...new Set(userIds)];
    if (ids.length) await this.publish({ kind: 'deliver', userIds: ids, data: frame(event, payload) });
  }

  async disconnect(target: DisconnectTarget, code: number, reason: string): Promise<void> {
    this.disconnected(target);
    await this.publish({ kind: 'disconnect', target, code, reason });
  }

  private async publish(message: BusMessage): Promise<void> {
    try {
      await this.redis.client.publish(this.channel, JSON.stringify(message));
    } catch (error) {
      // At-most-once: a lost event is recovered by the client's resync, a failed request is not.
      this.logger.warn(`publish failed: ${(error as Error).message}`);
    }
  }

  private receive(raw: string): void {
    let message: BusMessage;
    try {
      message = JSON.parse(raw) as BusMessage;
    } catch {
      return;
    }
    if (message.kind === 'deliver') this.registry.deliver(message.userIds, message.data);
    else if (message.kind === 'disconnect') {
      this.registry.disconnect(message.target, message.code, message.reason);
      this.disconnected(message.target);
    }
  }
}
