import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type Redis from 'ioredis';
import { withTimeout } from '../core/async/with-timeout';
import { RedisService } from '../core/redis/redis.service';
import { ClientEventName, ClientEvents, frame } from './client-events';
import { ConnectionRegistry, DisconnectTarget } from './connection-registry';
import { RealtimePublisher } from './realtime-publisher';

type BusMessage =
  | { kind: 'deliver'; userIds: string[]; data: string }
  | { kind: 'disconnect'; target: DisconnectTarget; code: number; reason: string };

/** A publish that takes longer than this counts as the bus being unreachable: the caller goes on. */
export const PUBLISH_TIMEOUT_MS = 1_000;
/** Deliveries wait at most this long for the restore listeners (a database that is down too). */
const RESTORE_HOLD_MS = 5_000;

/**
 * Several instances: every publish goes through one Redis pub/sub channel and each instance
 * delivers to its own sockets. The frame is serialised once by the publisher.
 *
 * When the subscription drops, whatever was published meanwhile is lost to this instance
 * (pub/sub keeps nothing), including disconnects of ended sessions. So when it comes back,
 * messages from the bus are held until the `onBusRestored` listeners (the session re-check)
 * have run, and only then delivered, in order.
 */
@Injectable()
export class RedisRealtimePublisher extends RealtimePublisher implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('RealtimeBus');
  private subscriber: Redis | null = null;
  private readonly channel: string;
  private subscriptionLost = false;
  /** Bus messages received while the restore listeners run; null when delivering directly. */
  private held: string[] | null = null;

  constructor(
    private readonly redis: RedisService,
    private readonly registry: ConnectionRegistry,
  ) {
    super();
    this.channel = redis.key('realtime');
  }

  async onModuleInit(): Promise<void> {
    this.subscriber = this.redis.connect('realtime:subscriber', { maxRetriesPerRequest: null });
    this.subscriber.on('message', (_channel: string, raw: string) => (this.held ? this.held.push(raw) : this.receive(raw)));
    this.subscriber.on('close', () => (this.subscriptionLost = true));
    this.subscriber.on('ready', () => {
      if (!this.subscriptionLost) return;
      this.subscriptionLost = false;
      void this.restore();
    });
    await this.subscriber.subscribe(this.channel);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.subscriber?.quit().catch(() => undefined);
  }

  async toUsers<E extends ClientEventName>(userIds: Iterable<string>, event: E, payload: ClientEvents[E]): Promise<void> {
    const ids = [...new Set(userIds)];
    if (ids.length) await this.publish({ kind: 'deliver', userIds: ids, data: frame(event, payload) });
  }

  /** Local sockets close at once, whatever the bus does; the other instances hear it through the bus. */
  async disconnect(target: DisconnectTarget, code: number, reason: string): Promise<void> {
    this.registry.disconnect(target, code, reason);
    this.disconnected(target);
    await this.publish({ kind: 'disconnect', target, code, reason });
  }

  private async publish(message: BusMessage): Promise<void> {
    const sent = this.redis.client.publish(this.channel, JSON.stringify(message)).then(
      () => true,
      (error: Error) => error,
    );
    const outcome = await withTimeout(sent, PUBLISH_TIMEOUT_MS, null);
    // At-most-once: a lost event is recovered by the client's resync, a failed request is not.
    if (outcome !== true) this.logger.warn(`publish failed: ${outcome ? outcome.message : 'timed out'}`);
  }

  private async restore(): Promise<void> {
    this.held ??= [];
    try {
      const listeners = Promise.all(this.restoredListeners.map((listener) => listener()));
      if ((await withTimeout(listeners, RESTORE_HOLD_MS, 'timeout')) === 'timeout') this.logger.warn('bus restore listeners still running; delivering');
    } catch (error) {
      this.logger.warn(`bus restore listener failed: ${(error as Error).message}`);
    } finally {
      const held = this.held;
      this.held = null;
      for (const raw of held) this.receive(raw);
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
