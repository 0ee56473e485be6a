import { ApiProperty } from '@nestjs/swagger';
import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { OnSocketEvent, SocketClient, SocketLifecycle } from '../realtime/on-socket-event.decorator';
import { socketPosition } from '../realtime/connection-registry';
import { PresenceStore } from '../realtime/presence/presence-store';
import { RealtimePublisher } from '../realtime/realtime-publisher';
import { PresenceRepository } from './presence.repository';

/** A connection's lease on "online"; `presence:ping` every 25 s renews it. */
export const PRESENCE_LEASE_MS = 60_000;
/** How often each instance looks for users whose leases lapsed without a disconnect (their instance died). */
export const LAPSE_SWEEP_MS = 15_000;
const LAPSE_BATCH = 100;

export class UserOnlineEvent {
  @ApiProperty({ format: 'uuid' }) userId: string;
}

export class UserOfflineEvent {
  @ApiProperty({ format: 'uuid' }) userId: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'null when the recipient may no longer see it (or the user was never online)' })
  lastOnline: string | null;
}

declare module '../realtime/client-events' {
  interface ClientEvents {
    'user:online': UserOnlineEvent;
    'user:offline': UserOfflineEvent;
  }
}

/**
 * Online state: a user is online while any of their sockets, on any instance, holds a live
 * lease and is not away. Only the first connection coming and the last one going produce
 * `user:online` / `user:offline`, so a second tab never makes the user flap; the events go to
 * related users the user's privacy settings and blocks allow. When an instance dies, its
 * connections never disconnect: their leases lapse, and a sweep on the surviving instances
 * reports those users offline (within PRESENCE_LEASE_MS + LAPSE_SWEEP_MS).
 */
@Injectable()
export class PresenceService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Presence');
  private sweeper?: NodeJS.Timeout;

  constructor(
    private readonly store: PresenceStore,
    private readonly presence: PresenceRepository,
    private readonly realtime: RealtimePublisher,
  ) {}

  onApplicationBootstrap(): void {
    this.sweeper = setInterval(() => {
      this.sweepLapsed().catch((error: Error) => this.logger.warn(`lapsed-lease sweep failed: ${error.message}`));
    }, LAPSE_SWEEP_MS).unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweeper);
  }

  /** Reports offline the users whose leases all lapsed without a disconnect; resolves how many. */
  async sweepLapsed(): Promise<number> {
    let reported = 0;
    for (;;) {
      const users = await this.store.claimLapsed(LAPSE_BATCH);
      for (const userId of users) await this.announceOffline(userId, await this.presence.audienceOf(userId));
      reported += users.length;
      if (users.length < LAPSE_BATCH) return reported;
    }
  }

  @OnSocketEvent(SocketLifecycle.Connected)
  async connected(client: SocketClient): Promise<void> {
    const { visible, audience } = await this.presence.relations(client.userId);
    // The lease before auth:ok: a client told auth:ok is online, even if another of its tabs
    // closes right then. The read and the lease go to Redis together (one round trip).
    const [online] = await Promise.all([this.store.online(visible), this.goOnline(client, audience)]);
    this.sendSnapshot(client, [...online]);
  }

  /** A repeated `auth` on an authenticated socket: the same answer again, with today's snapshot. */
  @OnSocketEvent(SocketLifecycle.Reauth)
  async reauthenticated(client: SocketClient): Promise<void> {
    const { visible } = await this.presence.relations(client.userId);
    this.sendSnapshot(client, [...(await this.store.online(visible))]);
  }

  @OnSocketEvent(SocketLifecycle.Disconnected)
  async disconnected(client: SocketClient): Promise<void> {
    await this.goOffline(client);
  }

  /**
   * Renews the socket's lease. A ping that finds no live lease (Redis was away when the socket
   * connected, or longer than a lease, and the sweep told the followers offline) makes the user
   * online again, and says so. A ping on an away socket is its return: clients stop pinging
   * while away (wire-contract), and one whose presence:back was refused (its budget spent) pings
   * as soon as it thinks itself back; it would otherwise stay offline, and get Web Push, in use.
   */
  @OnSocketEvent('presence:ping')
  async ping(client: SocketClient): Promise<void> {
    if (client.connection.away) return this.back(client);
    if (await this.store.connect(client.userId, client.connection.id, PRESENCE_LEASE_MS)) {
      await this.realtime.toUsers(await this.presence.audienceOf(client.userId), 'user:online', { userId: client.userId });
    }
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

  private sendSnapshot(client: SocketClient, onlineUserIds: string[]): void {
    client.send('auth:ok', { userId: client.userId, onlineUserIds, seq: socketPosition(client.connection) });
    client.send('presence:snapshot', { onlineUserIds });
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
    if (await this.store.disconnect(client.userId, client.connection.id)) await this.announceOffline(client.userId, audience);
  }

  private async announceOffline(userId: string, audience: string[]): Promise<void> {
    const at = (await this.presence.markLastOnline(userId)) ?? new Date();
    // A new tab may have connected meanwhile (this or another instance): then nobody went offline.
    if ((await this.store.online([userId])).size) return;
    await this.realtime.toUsers(audience, 'user:offline', { userId, lastOnline: new Date(at).toISOString() });
  }
}
