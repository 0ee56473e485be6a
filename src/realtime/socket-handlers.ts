import { Injectable, OnModuleInit } from '@nestjs/common';
import { DecoratedMethods } from '../core/discovery/decorated-methods';
import { SOCKET_EVENT, SocketClient, SocketEventMetadata } from './on-socket-event.decorator';

export interface SocketHandler extends SocketEventMetadata {
  invoke(client: SocketClient, payload: unknown): Promise<unknown>;
}

/** Every `@OnSocketEvent` method, found at boot. Lifecycle events may have several handlers. */
@Injectable()
export class SocketHandlers implements OnModuleInit {
  private readonly handlers = new Map<string, SocketHandler[]>();

  constructor(private readonly methods: DecoratedMethods) {}

  onModuleInit(): void {
    for (const { meta, call } of this.methods.find<SocketEventMetadata>(SOCKET_EVENT)) {
      const list = this.handlers.get(meta.event) ?? [];
      if (list.length && !meta.event.startsWith('$')) throw new Error(`Socket event '${meta.event}' has two handlers`);
      list.push({ ...meta, invoke: (client, payload) => Promise.resolve(call(client, payload)) });
      this.handlers.set(meta.event, list);
    }
  }

  /** The inbound frames handled (not the lifecycle pseudo-events), for the AsyncAPI document. */
  inbound(): SocketEventMetadata[] {
    return [...this.handlers.values()].flat().filter((h) => !h.event.startsWith('$')).map(({ invoke: _invoke, ...meta }) => meta);
  }

  get(event: string): SocketHandler[] {
    return this.handlers.get(event) ?? [];
  }
}
