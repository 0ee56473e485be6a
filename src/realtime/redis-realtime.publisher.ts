import { Injectable, Logger, OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import type Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { withTimeout } from '../core/async/with-timeout';
import { RedisService } from '../core/redis/redis.service';
import { ChatOrderedDelivery, ChatPosition, Delivery } from './chat-ordered-delivery';
import { ClientEventName } from './client-events';
import { ConnectionRegistry, DisconnectTarget } from './connection-registry';
import { Audience, deliveries, RealtimePublisher } from './realtime-publisher';

type BusMessage =
  | { kind: 'deliver'; deliveries: Delivery[]; position?: ChatPosition }
  | { kind: 'disconnect'; target: DisconnectTarget; code: number; reason: string };

/** Deliveries wait at most this long for the restore listeners (a database that is down too). */
const RESTORE_HOLD_MS = 5_000;

/**
 * Several instances on one Redis pub/sub channel. The publishing instance delivers to its own
 * sockets at once and publishes for the others; each bus message starts with its origin's id, so
 * an instance skips its own without parsing them. So a Redis outage (publishes fail within
 * REDIS_REQUEST_TIMEOUT_MS, see RedisService.bounded) still leaves local delivery working; the
 * other instances' clients catch up through history. Frames are serialised once per publish.
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
  private readonly origin = `${randomUUID()}|`;
  private readonly ordered: ChatOrderedDelivery;
  private subscriptionLost = false;
  /** Bus messages received while the restore listeners run; null when delivering directly. */
  private held: string[] | null = null;

  constructor(
    private readonly redis: RedisService,
    private readonly registry: ConnectionRegistry,
  ) {
    super();
    this.channel = redis.key('realtime');
    this.ordered = new ChatOrderedDelivery((ids, data) => registry.deliver(ids, data));
  }

  async onModuleInit(): Promise<void> {
    this.subscriber = this.redis.connect('realtime:subscriber', { maxRetriesPerRequest: null });
    this.subscriber.on('message', (_channel: string, raw: string) => {
      if (raw.startsWith(this.origin)) return;
      if (this.held) this.held.push(raw);
      else this.receive(raw);
    });
    this.subscriber.on('close', () => (this.subscriptionLost = true));
    this.subscriber.on('ready', () => {
      if (!this.subscriptionLost) return;
      this.subscriptionLost = false;
      void this.restore();
    });
    // Start-up goes on without the bus when Redis is down; the subscription is made on reconnect.
    await withTimeout(this.subscriber.subscribe(this.channel), RESTORE_HOLD_MS, null).catch(() => null);
  }

  async onApplicationShutdown(): Promise<void> {
    this.ordered.flush();
    await this.subscriber?.quit().catch(() => undefined);
  }

  async toAudiences<E extends ClientEventName>(event: E, audiences: Array<Audience<E>>, position?: ChatPosition): Promise<void> {
    const parts = deliveries(event, audiences);
    if (!parts.length) return;
    this.ordered.push(parts, position);
    await this.publish({ kind: 'deliver', deliveries: parts, ...(position ? { position } : {}) });
  }

  /** Local sockets close at once, whatever the bus does; the other instances hear it through the bus. */
  async disconnect(target: DisconnectTarget, code: number, reason: string): Promise<void> {
    this.registry.disconnect(target, code, reason);
    this.disconnected(target);
    await this.publish({ kind: 'disconnect', target, code, reason });
  }

  /** At-most-once: a lost event is recovered by the client's resync; a failed request is not. */
  private async publish(message: BusMessage): Promise<void> {
    const raw = this.origin + JSON.stringify(message);
    await this.redis.bounded('publish', (c) => c.publish(this.channel, raw), 0);
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
      message = JSON.parse(raw.slice(raw.indexOf('|') + 1)) as BusMessage;
    } catch {
      return;
    }
    if (message.kind === 'deliver') this.ordered.push(message.deliveries, message.position);
    else if (message.kind === 'disconnect') {
      this.registry.disconnect(message.target, message.code, message.reason);
      this.disconnected(message.target);
    }
  }
}
