import { Injectable, OnModuleInit } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import { SOCKET_EVENT, SocketClient, SocketEventMetadata } from './on-socket-event.decorator';

export interface SocketHandler extends SocketEventMetadata {
  invoke(client: SocketClient, payload: unknown): Promise<unknown>;
}

/** Every `@OnSocketEvent` method, found at boot. Lifecycle events may have several handlers. */
@Injectable()
export class SocketHandlers implements OnModuleInit {
  private readonly handlers = new Map<string, SocketHandler[]>();

  constructor(
    private readonly discovery: DiscoveryService,
    private readonly scanner: MetadataScanner,
    private readonly reflector: Reflector,
  ) {}

  onModuleInit(): void {
    for (const wrapper of this.discovery.getProviders()) {
      const instance = wrapper.instance as Record<string, unknown> | undefined;
      if (!instance || typeof instance !== 'object' || !wrapper.isDependencyTreeStatic()) continue;
      const prototype = Object.getPrototypeOf(instance);
      for (const method of this.scanner.getAllMethodNames(prototype)) {
        const meta = this.reflector.get<SocketEventMetadata>(SOCKET_EVENT, prototype[method]);
        if (!meta) continue;
        const list = this.handlers.get(meta.event) ?? [];
        if (list.length && !meta.event.startsWith('$')) throw new Error(`Socket event '${meta.event}' has two handlers`);
        const fn = instance[method] as (client: SocketClient, payload: unknown) => Promise<unknown>;
        list.push({ ...meta, invoke: (client, payload) => Promise.resolve(fn.call(instance, client, payload)) });
        this.handlers.set(meta.event, list);
      }
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
