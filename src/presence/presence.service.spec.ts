import type { SocketClient } from '../realtime/on-socket-event.decorator';
import type { PresenceStore } from '../realtime/presence/presence-store';
import type { RealtimePublisher } from '../realtime/realtime-publisher';
import type { PresenceRepository } from './presence.repository';
import { PresenceService } from './presence.service';

describe('PresenceService', () => {
  /** A user whose last socket here closes while `stillOnline` says whether a tab elsewhere holds a lease. */
  async function lastSocketCloses(stillOnline: boolean): Promise<jest.Mock> {
    const store = { disconnect: jest.fn().mockResolvedValue(true), online: jest.fn().mockResolvedValue(new Set(stillOnline ? ['u'] : [])) };
    const presence = { audienceOf: jest.fn().mockResolvedValue(['follower']), markLastOnline: jest.fn().mockResolvedValue(new Date('2026-12-02T10:00:00Z')) };
    const toUsers = jest.fn().mockResolvedValue(undefined);
    const service = new PresenceService(store as unknown as PresenceStore, presence as unknown as PresenceRepository, { toUsers } as unknown as RealtimePublisher);
    await service.disconnected({ userId: 'u', connection: { id: 'c', away: false } } as unknown as SocketClient);
    return toUsers;
  }

  it('tells the followers user:offline when the last lease went with the socket', async () => {
    expect((await lastSocketCloses(false)).mock.calls).toEqual([[['follower'], 'user:offline', { userId: 'u', lastOnline: '2026-12-02T10:00:00.000Z' }]]);
  });

  it('tells nobody when a tab connected meanwhile (here or on another instance) holds a lease', async () => {
    expect((await lastSocketCloses(true)).mock.calls).toEqual([]);
  });
});
