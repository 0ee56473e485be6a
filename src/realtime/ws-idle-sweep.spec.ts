import type { ModuleRef } from '@nestjs/core';
import { CloseCode } from './client-events';
import type { ConnectionRegistry } from './connection-registry';
import type { EventReplay } from './event-log/event-replay';
import type { RealtimePublisher } from './realtime-publisher';
import type { SocketHandlers } from './socket-handlers';
import type { SocketLimits } from './socket-limits';
import { WsGateway } from './ws.gateway';

/** The gateway's sweep (every 10 s): a socket silent for over a minute is closed, unless it said it is away. */
describe('WsGateway idle sweep', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  /** A connection as the sweep reads it: whether it is away, when it was last heard from, its socket. */
  const connection = (away: boolean) => ({
    away,
    lastSeenAt: Date.now(),
    socket: { OPEN: 1, readyState: 1, close: jest.fn(), ping: jest.fn() },
  });

  function gatewayOver(connections: Array<ReturnType<typeof connection>>): WsGateway {
    const registry = { all: () => connections } as unknown as ConnectionRegistry;
    return new WsGateway(registry, {} as SocketHandlers, {} as ModuleRef, {} as SocketLimits, {} as EventReplay, {} as RealtimePublisher);
  }

  it("closes a silent socket with 4008 'idle timeout' past a minute, and keeps an away one open, pinged", () => {
    const silent = connection(false);
    const away = connection(true);
    const talking = connection(false);
    const gateway = gatewayOver([silent, away, talking]);
    gateway.onModuleInit();
    try {
      jest.advanceTimersByTime(50_000);
      talking.lastSeenAt = Date.now();
      jest.advanceTimersByTime(10_000);
      // A minute exactly is not over it.
      expect(silent.socket.close).not.toHaveBeenCalled();
      jest.advanceTimersByTime(10_000);
      expect(silent.socket.close).toHaveBeenCalledWith(CloseCode.IdleTimeout, 'idle timeout');
      expect(CloseCode.IdleTimeout).toBe(4008);
      expect(away.socket.close).not.toHaveBeenCalled();
      expect(away.socket.ping).toHaveBeenCalledTimes(7);
      expect(talking.socket.close).not.toHaveBeenCalled();
    } finally {
      gateway.onModuleDestroy();
    }
  });
});
