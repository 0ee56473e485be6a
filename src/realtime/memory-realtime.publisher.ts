import { Injectable } from '@nestjs/common';
import { ChatOrderedDelivery, ChatPosition } from './chat-ordered-delivery';
import { ClientEventName } from './client-events';
import { ConnectionRegistry, DisconnectTarget } from './connection-registry';
import { Audience, deliveries, RealtimePublisher } from './realtime-publisher';

/** One instance, no Redis: delivery goes straight to the local registry. */
@Injectable()
export class MemoryRealtimePublisher extends RealtimePublisher {
  private readonly ordered: ChatOrderedDelivery;

  constructor(private readonly registry: ConnectionRegistry) {
    super();
    this.ordered = new ChatOrderedDelivery((ids, data) => registry.deliver(ids, data));
  }

  async toAudiences<E extends ClientEventName>(event: E, audiences: Array<Audience<E>>, position?: ChatPosition): Promise<void> {
    this.ordered.push(deliveries(event, audiences), position);
  }

  async disconnect(target: DisconnectTarget, code: number, reason: string): Promise<void> {
    this.registry.disconnect(target, code, reason);
    this.disconnected(target);
  }
}
