import { Injectable } from '@nestjs/common';
import { ChatOrderedDelivery, ChatPosition } from './chat-ordered-delivery';
import { ClientEventName, ClientEvents, frame } from './client-events';
import { ConnectionRegistry, DisconnectTarget } from './connection-registry';
import { RealtimePublisher } from './realtime-publisher';

/** One instance, no Redis: delivery goes straight to the local registry. */
@Injectable()
export class MemoryRealtimePublisher extends RealtimePublisher {
  private readonly ordered: ChatOrderedDelivery;

  constructor(private readonly registry: ConnectionRegistry) {
    super();
    this.ordered = new ChatOrderedDelivery((ids, data) => registry.deliver(ids, data));
  }

  async toUsers<E extends ClientEventName>(userIds: Iterable<string>, event: E, payload: ClientEvents[E], position?: ChatPosition): Promise<void> {
    this.ordered.push([...userIds], frame(event, payload), position);
  }

  async disconnect(target: DisconnectTarget, code: number, reason: string): Promise<void> {
    this.registry.disconnect(target, code, reason);
    this.disconnected(target);
  }
}
