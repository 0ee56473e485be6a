import { once } from 'node:events';
import { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import { Metrics } from '../core/metrics/metrics';
import { Connection, ConnectionRegistry } from './connection-registry';
import { MAX_SOCKET_BACKLOG, rawSocketOf } from './ws-frames';

describe('ConnectionRegistry', () => {
  let server: WebSocketServer;
  let client: WebSocket;
  let registry: ConnectionRegistry;
  let connection: Connection;

  beforeEach(async () => {
    server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(server, 'listening');
    client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const [socket] = (await once(server, 'connection')) as [WebSocket];
    await once(client, 'open');
    registry = new ConnectionRegistry(new Metrics());
    connection = { id: 'c1', socket, userId: null, sessionId: null, away: false, lastSeenAt: Date.now(), position: null, held: null, replayedUpTo: 0, early: [], liveSeqs: null };
    registry.add(connection);
    registry.bind(connection, 'u1', 's1');
  });

  afterEach(() => {
    client.close();
    server.close();
  });

  it('writes the frames a socket gets in one turn with one write, in order', async () => {
    const raw = rawSocketOf(connection.socket) as Duplex & { _write: unknown; _writev: unknown };
    const writes: number[] = [];
    for (const method of ['_write', '_writev'] as const) {
      const original = raw[method] as (...args: unknown[]) => unknown;
      raw[method] = (chunks: unknown, ...rest: unknown[]) => {
        writes.push(Array.isArray(chunks) ? chunks.length : 1);
        return original.call(raw, chunks, ...rest);
      };
    }
    const received: string[] = [];
    client.on('message', (data) => received.push(data.toString()));
    registry.deliver(['u1'], Buffer.from('{"event":"message:new"}'));
    await Promise.resolve();
    registry.deliver(['u1'], Buffer.from('{"event":"message:delivered"}'));
    while (received.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(received).toEqual(['{"event":"message:new"}', '{"event":"message:delivered"}']);
    expect(writes).toEqual([2]);
  });

  it('says when the frames of the turn have been handed to the socket', async () => {
    const raw = rawSocketOf(connection.socket)!;
    await registry.flushed();
    registry.deliver(['u1'], Buffer.from('{"event":"message:new"}'));
    expect(raw.writableCorked).toBe(1);
    await registry.flushed();
    expect(raw.writableCorked).toBe(0);
  });

  it('drops a socket whose held frames pass MAX_SOCKET_BACKLOG bytes while its log is replayed, not holding them without end', () => {
    const terminate = jest.spyOn(connection.socket, 'terminate');
    connection.held = [];
    const big = Buffer.alloc(60 * 1024, 'x');
    for (let seq = 1; seq <= 200; seq++) registry.deliver(['u1'], big, [seq]);
    expect(terminate).toHaveBeenCalled();
    const held = connection.held.reduce((sum, frame) => sum + (frame.payload as Buffer).length, 0);
    expect(held).toBeLessThanOrEqual(MAX_SOCKET_BACKLOG);
    expect(held).toBeGreaterThan(MAX_SOCKET_BACKLOG - 2 * big.length);
  });

  it('drops a live copy at or below what a replay already sent (a late copy from another instance), sending the next', async () => {
    const received: number[] = [];
    client.on('message', (data) => received.push(JSON.parse(data.toString()).seq));
    connection.replayedUpTo = 5;
    registry.deliver(['u1'], Buffer.from('{"event":"message:new","payload":{}}'), [5]);
    registry.deliver(['u1'], Buffer.from('{"event":"message:new","payload":{}}'), [6]);
    while (received.length < 1) await new Promise((resolve) => setTimeout(resolve, 5));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(received).toEqual([6]);
  });

  it('counts a user as present here unless every socket of theirs is away', () => {
    expect(registry.anyPresent(['u0', 'u1'])).toBe(true);
    connection.away = true;
    expect(registry.anyPresent(['u0', 'u1'])).toBe(false);
    expect(registry.anyPresent([])).toBe(false);
  });
});

describe('ConnectionRegistry: a socket binding after its session or user ended', () => {
  const socketOf = () => ({ close: jest.fn() }) as unknown as WebSocket & { close: jest.Mock };
  const connectionOn = (socket: WebSocket, id: string): Connection => ({ id, socket, userId: null, sessionId: null, away: false, lastSeenAt: Date.now(), position: null, held: null, replayedUpTo: 0, early: [], liveSeqs: null });

  afterEach(() => jest.useRealTimers());

  it('is closed as the disconnect closed the others, when its token was checked before the end; other sessions bind', () => {
    const registry = new ConnectionRegistry(new Metrics());
    expect(registry.disconnect({ sessionIds: ['ended'] }, 4003, 'session terminated')).toBe(0);
    expect(registry.disconnect({ userIds: ['gone'] }, 4001, 'account deleted')).toBe(0);

    const [late, lateUser, other] = [socketOf(), socketOf(), socketOf()];
    const lateConnection = connectionOn(late, 'c1');
    expect(registry.bind(lateConnection, 'u1', 'ended')).toBe(false);
    expect(late.close).toHaveBeenCalledWith(4003, 'session terminated');
    expect(lateConnection.ended).toBe(true);
    expect(registry.ofUser('u1')).toEqual([]);
    expect(registry.bind(connectionOn(lateUser, 'c2'), 'gone', 'another')).toBe(false);
    expect(lateUser.close).toHaveBeenCalledWith(4001, 'account deleted');

    const live = connectionOn(other, 'c3');
    expect(registry.bind(live, 'u1', 'live')).toBe(true);
    expect(other.close).not.toHaveBeenCalled();
    expect(registry.ofUser('u1')).toEqual([live]);
  });

  it('forgets an end after two minutes (the periodic session check covers what binds later)', () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const registry = new ConnectionRegistry(new Metrics());
    registry.disconnect({ sessionIds: ['ended'] }, 4003, 'session terminated');
    jest.setSystemTime(1_000_000 + 119_000);
    expect(registry.bind(connectionOn(socketOf(), 'c1'), 'u1', 'ended')).toBe(false);
    jest.setSystemTime(1_000_000 + 121_000);
    registry.disconnect({ sessionIds: ['other'] }, 4003, 'session terminated');
    expect(registry.bind(connectionOn(socketOf(), 'c2'), 'u1', 'ended')).toBe(true);
  });
});
