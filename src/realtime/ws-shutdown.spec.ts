import type { ModuleRef } from '@nestjs/core';
import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import { CloseCode } from './client-events';
import type { ConnectionRegistry } from './connection-registry';
import type { EventReplay } from './event-log/event-replay';
import type { RealtimePublisher } from './realtime-publisher';
import type { SocketHandlers } from './socket-handlers';
import type { SocketLimits } from './socket-limits';
import { WsGateway } from './ws.gateway';

describe('WsGateway during a shutdown', () => {
  it('closes a socket opened after the shutdown began with 1001 and ends it: a peer that never answers the close must not hold the HTTP server past the deadline', async () => {
    const registry = { all: () => [] } as unknown as ConnectionRegistry;
    const publisher = { afterPublished: (done: () => void) => done() } as unknown as RealtimePublisher;
    const gateway = new WsGateway(registry, {} as SocketHandlers, {} as ModuleRef, {} as SocketLimits, {} as EventReplay, publisher);
    await gateway.beforeApplicationShutdown();

    const late = { close: jest.fn(), terminate: jest.fn() };
    gateway.handleConnection(late as unknown as WebSocket, {} as IncomingMessage);
    expect(late.close).toHaveBeenCalledWith(CloseCode.GoingAway, 'server shutting down');
    await new Promise((resolve) => setImmediate(resolve));
    expect(late.terminate).toHaveBeenCalledTimes(1);
  });
});
