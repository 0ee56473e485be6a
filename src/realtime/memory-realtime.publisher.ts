import { Injectable } from '@nestjs/common';
import { ChatPosition } from './chat-ordered-delivery';
import { ClientEventName } from './client-events';
import { ConnectionRegistry, DisconnectTarget } from './connection-registry';
import { EventLog } from './event-log/event-log';
import { OutboundEvents } from './outbound-events';
import { Audience, RealtimePublisher } from './realtime-publisher';

/** One instance, no Redis: events are logged in memory and delivered straight to the local registry. */
@Injectable()
export class MemoryRealtimePublisher extends RealtimePublisher {
  private readonly events: OutboundEvents;

  constructor(
    private readonly registry: ConnectionRegistry,
    log: EventLog,
  ) {
    super();
    this.events = new OutboundEvents(log, registry, null);
  }

  /** Resolves once the frames are written to the sockets (the registry writes a turn's frames together). */
  async toAudiences<E extends ClientEventName>(event: E, audiences: Array<Audience<E>>, position?: ChatPosition): Promise<void> {
    await this.events.publish(event, audiences, position);
    await this.registry.flushed();
  }

  afterPublished(then: () => void): void {
    this.events.afterPublished(then);
  }

  async disconnect(target: DisconnectTarget, code: number, reason: string): Promise<void> {
    this.registry.disconnect(target, code, reason);
    this.disconnected(target);
  }
}
