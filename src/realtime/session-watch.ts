import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { AppConfig } from '../core/config/app-config';
import { OutageLog } from '../core/logging/outage-log';
import { CloseCode } from './client-events';
import { ConnectionRegistry } from './connection-registry';
import { RealtimePublisher } from './realtime-publisher';
import { SocketAuthenticator } from './socket-authenticator';

/**
 * Ending a session (logout, "terminate session", a deleted account) is a user's remedy for a
 * stolen device, so it must not rest on the bus alone: a disconnect published while Redis was
 * unreachable never reaches the instance holding the socket. Every instance therefore re-checks
 * the sessions of its sockets against the database every SESSION_RECHECK_SECONDS, and at once when
 * its bus subscription comes back (deliveries wait for that check), closing those that ended
 * with 4003. A failed check (database unreachable) closes nothing and is tried again next period; an
 * outage is logged once, not at every period.
 */
@Injectable()
export class SessionWatch implements OnApplicationBootstrap, OnModuleDestroy {
  /** A database outage fails every re-check: logged once, and when re-checks work again. */
  private readonly outages = new OutageLog(new Logger('SessionWatch'), 'session re-check');
  private timer: NodeJS.Timeout | null = null;
  private authenticator: SocketAuthenticator | null = null;

  constructor(
    private readonly registry: ConnectionRegistry,
    private readonly publisher: RealtimePublisher,
    private readonly moduleRef: ModuleRef,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.recheck(), this.config.values.sessionRecheckSeconds * 1000);
    this.timer.unref();
    this.publisher.onBusRestored(() => this.recheck());
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Closes the local sockets whose session has ended; resolves how many sessions that was. */
  async recheck(): Promise<number> {
    const sessionIds = new Set<string>();
    for (const connection of this.registry.all()) if (connection.sessionId) sessionIds.add(connection.sessionId);
    if (!sessionIds.size) return 0;
    let live: Set<string>;
    try {
      live = await this.getAuthenticator().liveSessions([...sessionIds]);
    } catch (error) {
      this.outages.failed(error);
      return 0;
    }
    this.outages.worked();
    const ended = [...sessionIds].filter((id) => !live.has(id));
    if (ended.length) this.registry.disconnect({ sessionIds: ended }, CloseCode.SessionTerminated, 'session ended');
    return ended.length;
  }

  private getAuthenticator(): SocketAuthenticator {
    // The auth module provides it and itself depends on realtime: resolved lazily, as the gateway does.
    this.authenticator ??= this.moduleRef.get(SocketAuthenticator, { strict: false });
    return this.authenticator!;
  }
}
