import { Injectable } from '@nestjs/common';
import { ClientEventName, ClientEvents, frame } from './client-events';
import { ConnectionRegistry, DisconnectTarget } from './connection-registry';
import { RealtimePublisher } from './realtime-publisher';

/** One instance, no Redis: delivery goes straight to the local registry. */
@Injectable()
export class MemoryRealtimePublisher extends RealtimePublisher {
  constructor(private readonly registry: ConnectionRegistry) {
    super();
  }

  async toUsers<E extends ClientEventName>(userIds: Iterable<string>, event: E, payload: ClientEvents[E]): Promise<void> {
    this.registry.deliver(userIds, frame(event, payload));
  }

  async disconnect(target: DisconnectTarget, code: number, reason: string): Promise<void> {
    this.registry.disconnect(target, code, reason);
    this.disconnected(target);
  }
}
