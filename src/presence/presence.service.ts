import { Injectable } from '@nestjs/common';
import { OnSocketEvent, SocketClient, SocketLifecycle } from '../realtime/on-socket-event.decorator';
import { PresenceStore } from '../realtime/presence/presence-store';
import { RealtimePublisher } from '../realtime/realtime-publisher';
import { PresenceRepository } from './presence.repository';

/** A connection's lease on "online"; `presence:ping` every 25 s renews it. */
export const PRESENCE_LEASE_MS = 60_000;

declare module '../realtime/client-events' {
  interface ClientEvents {
    'user:online': { userId: string };
    'user:offline': { userId: string; lastOnline: string };
  }
}

/**
 * Online state: a user is online while any of their sockets, on any instance, holds a live
 * lease and is not away. Only the first connection coming and the last one going produce
 * `user:online` / `user:offline`, so a second tab never makes the user flap; the events go to
 * related users the user's privacy settings and blocks allow.
 */
@Injectable()
export class PresenceService {
  constructor(
    private readonly store: PresenceStore,
    private readonly presence: PresenceRepository,
    private readonly realtime: RealtimePublisher,
  ) {}

  @OnSocketEvent(SocketLifecycle.Connected)
  async connected(client: SocketClient): Promise<void> {
    const { visible, audience } = await this.presence.relations(client.userId);
    const onlineUserIds = [...(await this.store.online(visible))];
    // The lease first: a client told auth:ok is online, even if another of its tabs closes right then.
    await this.goOnline(client, audience);
    client.send('auth:ok', { userId: client.userId, onlineUserIds });
    client.send('presence:snapshot', { onlineUserIds });
  }

  @OnSocketEvent(SocketLifecycle.Disconnected)
  async disconnected(client: SocketClient): Promise<void> {
    await this.goOffline(client);
  }

  @OnSocketEvent('presence:ping')
  async ping(client: SocketClient): Promise<void> {
    if (!client.connection.away) await this.store.connect(client.userId, client.connection.id, PRESENCE_LEASE_MS);
  }

  @OnSocketEvent('presence:away')
  async away(client: SocketClient): Promise<void> {
    if (client.connection.away) return;
    client.connection.away = true;
    await this.goOffline(client);
  }

  @OnSocketEvent('presence:back')
  async back(client: SocketClient): Promise<void> {
    if (!client.connection.away) return;
    client.connection.away = false;
    await this.goOnline(client, await this.presence.audienceOf(client.userId));
  }

  /**
   * Transitions read their audience before touching the lease, so the lease check and the publish
   * sit next to each other: a tab opening meanwhile cannot be overtaken by a stale offline event.
   */
  private async goOnline(client: SocketClient, audience: string[]): Promise<void> {
    const first = await this.store.connect(client.userId, client.connection.id, PRESENCE_LEASE_MS);
    if (first) await this.realtime.toUsers(audience, 'user:online', { userId: client.userId });
  }

  private async goOffline(client: SocketClient): Promise<void> {
    const audience = await this.presence.audienceOf(client.userId);
    const last = await this.store.disconnect(client.userId, client.connection.id);
    if (!last) return;
    const at = (await this.presence.markLastOnline(client.userId)) ?? new Date();
    // A new tab may have connected meanwhile (this or another instance): then nobody went offline.
    if ((await this.store.online([client.userId])).size) return;
    await this.realtime.toUsers(audience, 'user:offline', { userId: client.userId, lastOnline: new Date(at).toISOString() });
  }
}
