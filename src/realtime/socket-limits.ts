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

interface Held {
  /** Every place asked for, answered or not: all are released when the socket closes. */
  asked: SlotLease[];
  /** The places granted: only these are renewed. */
  granted: SlotLease[];
}

/**
 * What one client may hold and send over WebSockets.
 *
 * Socket caps (`WS_MAX_SOCKETS_PER_USER`, `WS_MAX_SOCKETS_PER_IP`) are counted across every
 * instance in the slot store (Redis leases renewed here, in memory when embedded). A socket over
 * a cap is the one refused: it gets `error {code:'TOO_MANY_SOCKETS'}` and close code 4029, and
 * the sockets already open are left alone (closing the oldest instead would let reconnecting
 * tabs evict one another in a loop).
 *
 * Frame budgets are token buckets per user kept on this instance: `message:send`, `typing:*`
 * and every other event each have their own (`WS_RATE_*`). A spent budget answers the frame with
 * `RATE_LIMIT` and `retryAfter` (seconds) and the frame is dropped before validation or any
 * database work. Buckets are local on purpose: a shared count would put a Redis round trip in
 * front of every frame, and the per-user socket cap already bounds how far one account can
 * spread: at most one budget per instance it holds sockets on.
 */
@Injectable()
export class SocketLimits implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger('WebSocket');
  private readonly held = new Map<string, Held>();
  private readonly sends: TokenBuckets;
  private readonly typing: TokenBuckets;
  private readonly events: TokenBuckets;
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
   * /64 as one) and frees its places when it closes. Resolves false when it was refused.
   */
  async admitConnection(connection: Connection, request: IncomingMessage): Promise<boolean> {
    const held: Held = { asked: [], granted: [] };
    this.held.set(connection.id, held);
    connection.socket.once('close', () => this.release(connection.id));
    const lease = { key: `ws-ip:${addressScope(clientAddress(request, this.trustProxy))}`, holder: connection.id };
    return this.acquire(connection, held, lease, this.maxPerAddress, `at most ${this.maxPerAddress} open sockets per address`);
  }

  /** Counts an authenticated socket under its user. Resolves false when it was refused or has closed meanwhile. */
  async admitUser(connection: Connection, userId: string): Promise<boolean> {
    const held = this.held.get(connection.id);
    if (!held || connection.socket.readyState !== connection.socket.OPEN) return false;
    const lease = { key: `ws-user:${userId}`, holder: connection.id };
    return this.acquire(connection, held, lease, this.maxPerUser, `at most ${this.maxPerUser} open sockets per account`);
  }

  /** Takes one `event` frame from the user's budget; throws RATE_LIMIT with `retryAfter` (seconds) when it is spent. */
  consume(userId: string, event: string): void {
    const buckets = event === 'message:send' ? this.sends : event.startsWith('typing:') ? this.typing : this.events;
    const waitMs = buckets.take(userId);
    if (waitMs === 0) return;
    const retryAfter = Math.ceil(waitMs / 1000);
    throw new AppError('RATE_LIMIT', `Too many ${event} frames; retry in ${retryAfter} s`, { retryAfter });
  }

  private async acquire(connection: Connection, held: Held, lease: SlotLease, limit: number, why: string): Promise<boolean> {
    if (held.granted.some((l) => l.key === lease.key)) return true;
    // Asked before the answer: a close meanwhile releases it, after the acquire on the same connection.
    held.asked.push(lease);
    const admitted = await this.slots.acquire(lease, limit, SOCKET_SLOT_LEASE_MS);
    if (admitted) {
      held.granted.push(lease);
      return connection.socket.readyState === connection.socket.OPEN;
    }
    held.asked.splice(held.asked.indexOf(lease), 1);
    this.logger.debug(`socket refused: ${why}`);
    if (connection.socket.readyState === connection.socket.OPEN) {
      connection.socket.send(frame('error', { code: 'TOO_MANY_SOCKETS', message: `Too many open connections: ${why}` }));
      connection.socket.close(CloseCode.TooManySockets, 'too many sockets');
    }
    return false;
  }

  private release(connectionId: string): void {
    const held = this.held.get(connectionId);
    this.held.delete(connectionId);
    for (const lease of held?.asked ?? []) void this.slots.release(lease);
  }

  /** Keeps the open sockets' places from lapsing and forgets refilled budgets. */
  private async renew(): Promise<void> {
    for (const buckets of [this.sends, this.typing, this.events]) buckets.prune();
    const leases = [...this.held.values()].flatMap((held) => held.granted);
    if (leases.length) await this.slots.renew(leases, SOCKET_SLOT_LEASE_MS);
  }
}
