import { Injectable } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { EntityManager } from 'typeorm';
import { sha256 } from '../core/crypto/secret-box';
import { newId } from '../core/database/ids';
import { AppError } from '../core/errors';
import { CloseCode } from '../realtime/client-events';
import { RealtimePublisher } from '../realtime/realtime-publisher';
import { SocketAuthenticator } from '../realtime/socket-authenticator';
import { AuthContext } from './auth-context';
import { SessionDto } from './dto/auth.dto';
import { SessionCache } from './session-cache';
import { SessionsRepository } from './sessions.repository';

export const SESSION_LIFETIME_DAYS = 90;
export const SESSION_LIFETIME_MS = SESSION_LIFETIME_DAYS * 86_400_000;
/** last_active_at is written at most this often per session, not on every request. */
const TOUCH_INTERVAL_MS = 60_000;
/** How often an open socket marks its session in use (SessionWatch's re-check does it, for all of an instance's sockets at once). */
const SOCKET_TOUCH_INTERVAL_S = 3_600;

export interface DeviceInfo {
  deviceName: string;
  userAgent: string | null;
  ip: string | null;
  location: string | null;
}

/**
 * Sessions: one opaque 256-bit token per login, stored as its SHA-256 only, sliding 90-day expiry.
 * Also authenticates sockets (the same token, from the cookie or the `auth` frame).
 */
@Injectable()
export class SessionsService extends SocketAuthenticator {
  /** The marking of open sockets' sessions under way (liveSessions), if any. */
  private keeping: Promise<void> | null = null;

  private readonly cache = new SessionCache();

  constructor(
    private readonly sessions: SessionsRepository,
    private readonly realtime: RealtimePublisher,
  ) {
    super();
    // Every way a session ends (logout, termination, a deleted account) disconnects it: on this
    // instance at once, on the others when the bus delivers it.
    realtime.onDisconnect((target) => this.cache.forget(target));
  }

  /** Creates a session inside the caller's transaction; resolves the token to hand to the client. */
  async create(tx: EntityManager, userId: string, device: DeviceInfo): Promise<string> {
    const token = randomBytes(32).toString('base64url');
    const now = new Date();
    await this.sessions.insert(tx, {
      id: newId(),
      userId,
      tokenHash: sha256(token),
      ...device,
      createdAt: now,
      lastActiveAt: now,
      expiresAt: new Date(now.getTime() + SESSION_LIFETIME_MS),
    });
    return token;
  }

  /**
   * The caller behind a token, or null for a missing, unknown, expired or terminated one.
   * A live session is remembered for a few seconds (SessionCache), so a burst of requests costs
   * one lookup; last activity is written at most once a minute and slides the expiry. `read`
   * is told the session's expiry whenever it was read from the database or slid (a cookie is set
   * again with it: at most every few seconds, whoever slid the expiry last, a socket or another instance).
   */
  async resolve(token: string, read?: (expiresAt: number) => void): Promise<AuthContext | null> {
    if (!token || token.length > 128) return null;
    const tokenHash = sha256(token);
    const now = Date.now();
    let session = this.cache.get(tokenHash, now);
    const cached = session !== null;
    if (!session) {
      const generation = this.cache.generation;
      const live = await this.sessions.findLive(tokenHash);
      if (!live) return null;
      session = { id: live.id, userId: live.userId, lastActiveAt: new Date(live.lastActiveAt).getTime(), expiresAt: new Date(live.expiresAt).getTime() };
      this.cache.set(tokenHash, session, generation, now);
    }
    if (now - session.lastActiveAt > TOUCH_INTERVAL_MS) {
      // Marked before the write: the requests of a burst that come meanwhile do not write it again.
      session.lastActiveAt = now;
      session.expiresAt = now + SESSION_LIFETIME_MS;
      await this.sessions.touch(session.id, SESSION_LIFETIME_DAYS);
      read?.(session.expiresAt);
    } else if (!cached) read?.(session.expiresAt);
    return { userId: session.userId, sessionId: session.id };
  }

  authenticate(token: string): Promise<AuthContext | null> {
    return this.resolve(token);
  }

  /**
   * Live sessions among these (the sessions of this instance's open sockets); the ones that ended
   * are forgotten by this instance's cache too. An open socket is its session in use: about
   * hourly, its activity and its account's are marked and its session's expiry slides, as a
   * request does (a device that stays connected for months without an HTTP request is not signed
   * out by expiry, nor its account deleted as unused by autoDeleteMonths; a browser's cookie is
   * still set again only by its requests). The marking runs beside the answer, not before it
   * (the re-check that closes ended sessions does not wait for it), one at a time.
   */
  async liveSessions(sessionIds: string[]): Promise<Set<string>> {
    const live = new Set(await this.sessions.liveIds(sessionIds));
    const ended = sessionIds.filter((id) => !live.has(id));
    if (ended.length) this.cache.forget({ sessionIds: ended });
    if (live.size && !this.keeping) {
      // Not marked this time (the database refused the write): tried again at the next re-check.
      this.keeping = this.sessions
        .keepInUse([...live], SESSION_LIFETIME_DAYS, SOCKET_TOUCH_INTERVAL_S)
        .catch(() => undefined)
        .finally(() => (this.keeping = null));
    }
    return live;
  }

  /** A marking under way is finished before the database closes. */
  async beforeApplicationShutdown(): Promise<void> {
    await this.keeping;
  }

  async list(auth: AuthContext): Promise<SessionDto[]> {
    const sessions = await this.sessions.listLive(auth.userId);
    return sessions.map((s) => ({
      id: s.id,
      deviceName: s.deviceName,
      location: s.location,
      lastActiveAt: s.lastActiveAt.toISOString(),
      createdAt: s.createdAt.toISOString(),
      isCurrent: s.id === auth.sessionId,
    }));
  }

  async terminate(auth: AuthContext, sessionId: string): Promise<void> {
    if (!(await this.sessions.deleteOwn(auth.userId, sessionId))) throw new AppError('SESSION_NOT_FOUND');
    await this.realtime.disconnect({ sessionIds: [sessionId] }, CloseCode.SessionTerminated, 'session terminated');
  }

  async terminateOthers(auth: AuthContext): Promise<number> {
    const ids = await this.sessions.deleteOthers(auth.userId, auth.sessionId);
    if (ids.length) await this.realtime.disconnect({ sessionIds: ids }, CloseCode.SessionTerminated, 'session terminated');
    return ids.length;
  }

  /** Logout: ends the token's session if it is still live; a stale token is not an error. */
  async endByToken(token: string | null): Promise<void> {
    if (!token || token.length > 128) return;
    const id = await this.sessions.deleteByTokenHash(sha256(token));
    if (id) await this.realtime.disconnect({ sessionIds: [id] }, CloseCode.SessionTerminated, 'logged out');
  }
}
