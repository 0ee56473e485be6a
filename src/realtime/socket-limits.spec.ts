import type { IncomingMessage } from 'node:http';
import type { WebSocket } from 'ws';
import type { AppConfig } from '../core/config/app-config';
import { MemorySlotStore } from '../core/rate-limit/memory-slot.store';
import { SlotLease } from '../core/rate-limit/slot-store';
import type { Connection } from './connection-registry';
import { SOCKET_SLOT_LEASE_MS, SocketLimits } from './socket-limits';

/** The memory store, recording what it was asked to renew. */
class RecordingStore extends MemorySlotStore {
  renewed: SlotLease[] = [];
  override async renew(leases: SlotLease[], ttlMs: number): Promise<void> {
    this.renewed.push(...leases);
    await super.renew(leases, ttlMs);
  }
  /** Whether `holder` holds a place under `key` (acquiring with no room left answers that). */
  async holds(key: string, holder: string): Promise<boolean> {
    return this.acquire({ key, holder }, 0, SOCKET_SLOT_LEASE_MS);
  }
}

let ids = 0;
function socket(address: string) {
  const sent: string[] = [];
  const ws = {
    OPEN: 1,
    readyState: 1,
    send: (data: string) => void sent.push(data),
    close: jest.fn(function (this: { readyState: number }) {
      this.readyState = 3;
    }),
  };
  const connection = { id: `c${++ids}`, socket: ws as unknown as WebSocket } as Connection;
  const request = { headers: {}, socket: { remoteAddress: address } } as unknown as IncomingMessage;
  return { connection, request, ws, sent };
}

function setup(perUser: number, perAddress: number) {
  const store = new RecordingStore();
  const rate = { limit: 100, windowSeconds: 1 };
  const config = { values: { wsRateSend: rate, wsRateTyping: rate, wsRatePresence: rate, wsRateConnect: rate, wsRateEvents: rate, trustProxy: 0, wsMaxSocketsPerUser: perUser, wsMaxSocketsPerIp: perAddress } } as unknown as AppConfig;
  return { store, limits: new SocketLimits(config, store) };
}

describe('SocketLimits', () => {
  afterEach(() => jest.useRealTimers());

  it('refuses the socket over its address cap with TOO_MANY_SOCKETS and 4029, and admits one again once a place is released', async () => {
    const { limits } = setup(10, 2);
    const [a, b, c, d] = [1, 2, 3, 4].map(() => socket('198.51.100.7'));
    expect(await limits.admitConnection(a.connection, a.request)).toBe(true);
    expect(await limits.admitConnection(b.connection, b.request)).toBe(true);
    expect(await limits.admitConnection(c.connection, c.request)).toBe(false);
    expect(JSON.parse(c.sent[0])).toEqual({ event: 'error', payload: { code: 'TOO_MANY_SOCKETS', message: expect.any(String) } });
    expect(c.ws.close).toHaveBeenCalledWith(4029, 'too many sockets');
    const elsewhere = socket('198.51.100.8');
    expect(await limits.admitConnection(elsewhere.connection, elsewhere.request)).toBe(true);

    limits.release(c.connection);
    limits.release(a.connection);
    expect(await limits.admitConnection(d.connection, d.request)).toBe(true);
  });

  it("counts authenticated sockets per user, and a closed socket's places (address and user) are free again", async () => {
    const { store, limits } = setup(1, 10);
    const a = socket('198.51.100.9');
    const b = socket('198.51.100.9');
    await limits.admitConnection(a.connection, a.request);
    await limits.admitConnection(b.connection, b.request);
    expect(await limits.admitUser(a.connection, 'u1')).toBe(true);
    expect(await limits.admitUser(a.connection, 'u1')).toBe(true); // asked again: the place it holds
    expect(await limits.admitUser(b.connection, 'u1')).toBe(false);
    expect(b.ws.close).toHaveBeenCalledWith(4029, 'too many sockets');

    limits.release(a.connection);
    limits.release(b.connection);
    expect(await store.holds('ws-user:u1', a.connection.id)).toBe(false);
    expect(await store.holds('ws-ip:198.51.100.9', a.connection.id)).toBe(false);
    expect(await store.holds('ws-ip:198.51.100.9', b.connection.id)).toBe(false);
    const c = socket('198.51.100.9');
    await limits.admitConnection(c.connection, c.request);
    expect(await limits.admitUser(c.connection, 'u1')).toBe(true);
  });

  it('releases the user place of a socket that closed while it was being asked for', async () => {
    const { store, limits } = setup(1, 10);
    const a = socket('198.51.100.10');
    await limits.admitConnection(a.connection, a.request);
    const asked = limits.admitUser(a.connection, 'u2');
    a.ws.readyState = 3;
    limits.release(a.connection);
    expect(await asked).toBe(false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(await store.holds('ws-user:u2', a.connection.id)).toBe(false);
  });

  it('renews the places granted to open sockets, not the refused ones nor those of closed sockets', async () => {
    jest.useFakeTimers();
    const { store, limits } = setup(1, 10);
    const [a, b, c] = [1, 2, 3].map(() => socket('198.51.100.11'));
    for (const s of [a, b, c]) await limits.admitConnection(s.connection, s.request);
    await limits.admitUser(a.connection, 'u3');
    await limits.admitUser(b.connection, 'u3'); // refused
    limits.release(c.connection);
    limits.onModuleInit();
    await jest.advanceTimersByTimeAsync(20_000);
    limits.onModuleDestroy();
    expect(store.renewed.map((l) => `${l.key} ${l.holder}`).sort()).toEqual(
      [`ws-ip:198.51.100.11 ${a.connection.id}`, `ws-user:u3 ${a.connection.id}`, `ws-ip:198.51.100.11 ${b.connection.id}`].sort(),
    );
  });
});
