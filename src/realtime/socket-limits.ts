import { Injectable, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { IncomingMessage } from 'node:http';
import { AppConfig } from '../core/config/app-config';
import { AppError } from '../core/errors';
import { addressScope, clientAddress } from '../core/http/client-address';
import { SlotLease, SlotStore } from '../core/rate-limit/slot-store';
import { TokenBuckets } from '../core/rate-limit/token-buckets';
import { CloseCode, frame } from './client-events';
import type { Connection } from './connection-registry';

/**
 * A socket's place under the per-user and per-address caps lapses this long after it was last
 * renewed, so the places of an instance that died are free again within a minute.
 */
export const SOCKET_SLOT_LEASE_MS = 60_000;
const RENEW_INTERVAL_MS = 20_000;

const ADDRESS = 1;
const USER = 2;

/**
 * A socket's places, kept small (one per open socket): the scope of its address (asked when it
 * opens) and its user (asked on authentication, null before), both shared strings; the lease
 * keys are built when needed. Every place asked for, answered or not, is released when the
 * socket closes; only the granted ones are renewed.
 */
interface Held {
  scope: string;
  userId: string | null;
  /** ADDRESS | USER bits of the places granted. */
  granted: number;
}

const addressLease = (held: Held, holder: string): SlotLease => ({ key: `ws-ip:${held.scope}`, holder });
const userLease = (held: Held, holder: string): SlotLease => ({ key: `ws-user:${held.userId}`, holder });

/**
 * What one client may hold and send over WebSockets.
 *
 * Socket caps (`WS_MAX_SOCKETS_PER_USER`, `WS_MAX_SOCKETS_PER_IP`) are counted across every
 * instance in the slot store (Redis leases renewed here, in memory when embedded). A socket over
 * a cap is the one refused: it gets `error {code:'TOO_MANY_SOCKETS'}` and close code 4029, and
 * the sockets already open are left alone (closing the oldest instead would let reconnecting
 * tabs evict one another in a loop).
 *
 * Frame budgets are token buckets per user kept on this instance: `message:send`, `typing:start`
 * and every other event each have their own (`WS_RATE_*`). `typing:stop` is one of the others: a
 * client that sends a start per keystroke (the Android app) spends the typing budget, and its
 * stop must still end the indicator. A spent budget answers the frame with
 * `RATE_LIMIT` and `retryAfter` (seconds) and the frame is dropped before validation or any
 * database work. Buckets are local on purpose: a shared count would put a Redis round trip in
 * front of every frame, and the per-user socket cap already bounds how far one account can
 * spread: at most one budget per instance it holds sockets on.
 */
/** Frames that change what every follower sees of the user: a budget of their own (WS_RATE_PRESENCE). */
const PRESENCE_TRANSITIONS = new Set(['presence:away', 'presence:back']);

@Injectable()
export class SocketLimits implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('WebSocket');
  private readonly held = new Map<string, Held>();
  private readonly sends: TokenBuckets;
  private readonly typing: TokenBuckets;
  private readonly events: TokenBuckets;
  /** presence:away and presence:back: each one reaches every follower of the user (thousands in big groups). */
  private readonly presence: TokenBuckets;
  /** Authenticated sockets opened: each can tell every follower online, and its close offline. */
  private readonly connects: TokenBuckets;
  private readonly trustProxy: number;
  private readonly maxPerUser: number;
  private readonly maxPerAddress: number;
  private renewer: NodeJS.Timeout | null = null;

  constructor(
    config: AppConfig,
    private readonly slots: SlotStore,
  ) {
    const values = config.values;
    this.sends = new TokenBuckets(values.wsRateSend);
    this.typing = new TokenBuckets(values.wsRateTyping);
    this.events = new TokenBuckets(values.wsRateEvents);
    this.presence = new TokenBuckets(values.wsRatePresence);
    this.connects = new TokenBuckets(values.wsRateConnect);
    this.trustProxy = values.trustProxy;
    this.maxPerUser = values.wsMaxSocketsPerUser;
    this.maxPerAddress = values.wsMaxSocketsPerIp;
  }

  onModuleInit(): void {
    this.renewer = setInterval(() => void this.renew(), RENEW_INTERVAL_MS);
    this.renewer.unref();
  }

  onModuleDestroy(): void {
    if (this.renewer) clearInterval(this.renewer);
  }

  /**
   * Counts a new socket under its client address (X-Forwarded-For per TRUST_PROXY; an IPv6
   * /64 as one). Resolves false when it was refused. The caller calls `release` when it closes.
   * Not async: the upgrade request (a few KB) is not kept alive while Redis answers, so a burst
   * of connects does not promote every request into the old generation.
   */
  admitConnection(connection: Connection, request: IncomingMessage): Promise<boolean> {
    const held: Held = { scope: addressScope(clientAddress(request, this.trustProxy)), userId: null, granted: 0 };
    this.held.set(connection.id, held);
    return this.acquire(connection, held, ADDRESS, addressLease(held, connection.id), this.maxPerAddress, `at most ${this.maxPerAddress} open sockets per address`);
  }

  /** Counts an authenticated socket under its user. Resolves false when it was refused or has closed meanwhile. */
  async admitUser(connection: Connection, userId: string): Promise<boolean> {
    const held = this.held.get(connection.id);
    if (!held || connection.socket.readyState !== connection.socket.OPEN) return false;
    if (held.userId !== null) return held.userId === userId && (held.granted & USER) !== 0;
    // Asked before the answer: a close meanwhile releases it, after the acquire on the same connection.
    held.userId = userId;
    return this.acquire(connection, held, USER, userLease(held, connection.id), this.maxPerUser, `at most ${this.maxPerUser} open sockets per account`);
  }

  /** Frees a closed socket's places. */
  release(connection: Connection): void {
    const held = this.held.get(connection.id);
    if (!held) return;
    this.held.delete(connection.id);
    void this.slots.release(addressLease(held, connection.id));
    if (held.userId !== null) void this.slots.release(userLease(held, connection.id));
  }

  /** Takes one `event` frame from the user's budget; throws RATE_LIMIT with `retryAfter` (seconds) when it is spent. */
  consume(userId: string, event: string): void {
    const buckets = event === 'message:send' ? this.sends : event === 'typing:start' ? this.typing : PRESENCE_TRANSITIONS.has(event) ? this.presence : this.events;
    take(buckets, userId, `${event} frames`);
  }

  /**
   * Takes one authenticated socket from the user's connect budget (WS_RATE_CONNECT); throws
   * RATE_LIMIT with `retryAfter` when it is spent. Opening and closing sockets in a loop would
   * otherwise tell every follower online and offline, and read the user's relations, each time:
   * what the presence budget keeps `presence:away`/`back` from doing.
   */
  consumeConnect(userId: string): void {
    take(this.connects, userId, 'connections');
  }

  private async acquire(connection: Connection, held: Held, place: number, lease: SlotLease, limit: number, why: string): Promise<boolean> {
    const admitted = await this.slots.acquire(lease, limit, SOCKET_SLOT_LEASE_MS);
    if (admitted) {
      held.granted |= place;
      return connection.socket.readyState === connection.socket.OPEN;
    }
    // Refused: nothing to release for it (and, for the address, nothing more to ask).
    if (place === USER) held.userId = null;
    else this.held.delete(connection.id);
    this.logger.debug(`socket refused: ${why}`);
    if (connection.socket.readyState === connection.socket.OPEN) {
      connection.socket.send(frame('error', { code: 'TOO_MANY_SOCKETS', message: `Too many open connections: ${why}` }));
      connection.socket.close(CloseCode.TooManySockets, 'too many sockets');
    }
    return false;
  }

  /** Keeps the open sockets' places from lapsing and forgets refilled budgets. */
  private async renew(): Promise<void> {
    for (const buckets of [this.sends, this.typing, this.events, this.presence, this.connects]) buckets.prune();
    const leases: SlotLease[] = [];
    for (const [holder, held] of this.held) {
      if (held.granted & ADDRESS) leases.push(addressLease(held, holder));
      if (held.granted & USER) leases.push(userLease(held, holder));
    }
    if (leases.length) await this.slots.renew(leases, SOCKET_SLOT_LEASE_MS);
  }
}

function take(buckets: TokenBuckets, userId: string, what: string): void {
  const waitMs = buckets.take(userId);
  if (waitMs === 0) return;
  const retryAfter = Math.ceil(waitMs / 1000);
  throw new AppError('RATE_LIMIT', `Too many ${what}; retry in ${retryAfter} s`, { retryAfter });
}
