import { Injectable } from '@nestjs/common';
import { turnBatch } from '../../core/async/turn-batch';
import { groupBySlot, hashShard } from '../../core/redis/key-slot';
import { RedisScript } from '../../core/redis/redis-script';
import { RedisService } from '../../core/redis/redis.service';
import { ConnectionRegistry } from '../connection-registry';
import { PresenceStore } from './presence-store';

// A sorted set per user: member = connection id, score = lease expiry (ms). Expired members are
// pruned on every touch; the key itself expires with the longest lease. One more sorted set per
// shard, "lapses", holds every user of the shard with a lease at the latest expiry among their
// leases: what is due in it belongs to users whose leases ran out without a disconnect.
//
// Users are spread over PRESENCE_SHARDS shards, each one hash tag: <prefix>:presence:{p<n>}:<user>
// and <prefix>:presence-lapses:{p<n>}. Every script touches the keys of one shard only, so on a
// Redis Cluster they share a slot (and the shards spread over the primaries).
const CONNECT = new RedisScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local before = redis.call('ZCARD', KEYS[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], 'GT', ARGV[2], ARGV[5])
return before`);
// 1 when no lease is left and the user was still unreported (in "lapses"): the sweeper and this
// script each remove the user from "lapses" first, so exactly one of them reports the user offline.
const DISCONNECT = new RedisScript(`
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
return redis.call('ZREM', KEYS[2], ARGV[3])`);
// Claims due users whose leases are all gone (ZREM makes the claim single); a user with a live
// lease left is pushed back to that lease's expiry. Per-user keys are built from ARGV[3], the
// shard's key prefix: they share the hash tag of KEYS[1], so its slot on a cluster.
const CLAIM_LAPSED = new RedisScript(`
local now = tonumber(ARGV[1])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local claimed = {}
for _, user in ipairs(due) do
  local key = ARGV[3] .. user
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local latest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if latest[2] then
    redis.call('ZADD', KEYS[1], latest[2], user)
  else
    redis.call('ZREM', KEYS[1], user)
    claimed[#claimed + 1] = user
  end
end
return claimed`);

// One flag per user (1 = a live lease): one command for a whole chat list instead of one per user.
const ONLINE = new RedisScript(`
local flags = {}
for i = 1, #KEYS do
  flags[i] = redis.call('ZCOUNT', KEYS[i], '(' .. ARGV[1], '+inf') > 0 and 1 or 0
end
return flags`);
// 1 as soon as one user has a live lease: one command for a whole group instead of one per member.
const ANY_ONLINE = new RedisScript(`
for i = 1, #KEYS do
  if redis.call('ZCOUNT', KEYS[i], '(' .. ARGV[1], '+inf') > 0 then return 1 end
end
return 0`);

/**
 * Presence shared by every instance through Redis. During a Redis outage every call degrades at
 * once (RedisService.bounded): presence unknown reads as offline, a lease not taken produces no
 * `user:online`, and leases taken before the outage lapse by themselves.
 */
@Injectable()
export class RedisPresenceStore extends PresenceStore {
  /** anyOnline asks of a few users: those of one turn share one read (turnBatch). */
  private readonly asks = turnBatch<string[], boolean>(async (asks) => {
    const online = await this.online([...new Set(asks.flat())]);
    return asks.map((userIds) => userIds.some((id) => online.has(id)));
  });

  constructor(
    private readonly redis: RedisService,
    private readonly registry: ConnectionRegistry,
  ) {
    super();
  }

  async connect(userId: string, connectionId: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const shard = shardOf(userId);
    const before = await this.redis.bounded(
      'presence connect',
      (c) => CONNECT.run<number>(c, [this.key(shard, userId), this.lapsesKey(shard)], [now, now + ttlMs, connectionId, ttlMs, userId]),
      null,
    );
    return before === 0;
  }

  async disconnect(userId: string, connectionId: string): Promise<boolean> {
    const shard = shardOf(userId);
    const last = await this.redis.bounded(
      'presence disconnect',
      (c) => DISCONNECT.run<number>(c, [this.key(shard, userId), this.lapsesKey(shard)], [Date.now(), connectionId, userId]),
      0,
    );
    return last === 1;
  }

  /** Up to `limit` users from each shard (all in one write): a shard with more due makes the result reach `limit`, so the sweeper asks again. */
  async claimLapsed(limit: number): Promise<string[]> {
    const now = Date.now();
    const claimed = await this.redis.bounded(
      'presence sweep',
      (c) => Promise.all(SHARDS.map((shard) => CLAIM_LAPSED.run<string[]>(c, [this.lapsesKey(shard)], [now, limit, this.key(shard, '')]))),
      [],
    );
    return claimed.flat();
  }

  async online(userIds: string[]): Promise<Set<string>> {
    if (!userIds.length) return new Set();
    const now = Date.now();
    const groups = this.slotGroups(userIds);
    const flags = await this.redis.bounded(
      'presence read',
      (c) => Promise.all(groups.map((group) => ONLINE.run<number[]>(c, group.keys, [now]))),
      [] as number[][],
    );
    const online = new Set<string>();
    groups.forEach((group, g) => group.userIds.forEach((id, i) => flags[g]?.[i] === 1 && online.add(id)));
    return online;
  }

  /**
   * A user with a socket on this instance (not away) answers it without a Redis read. The asks of
   * a few users made in one turn of the event loop (a batch of direct messages, each asking
   * whether its recipient is online for `message:delivered`) share one read; a larger one reads
   * alone, stopping at the first user online.
   */
  async anyOnline(userIds: string[]): Promise<boolean> {
    if (!userIds.length) return false;
    if (this.registry.anyPresent(userIds)) return true;
    if (userIds.length <= SHARED_ASK_MAX_USERS) return this.asks.load(userIds);
    const now = Date.now();
    const found = await this.redis.bounded(
      'presence read',
      (c) => Promise.all(this.slotGroups(userIds).map((group) => ANY_ONLINE.run<number>(c, group.keys, [now]))),
      [] as number[],
    );
    return found.includes(1);
  }

  /** The users' keys in groups one script call may take: all at once on one Redis, one group per shard on a cluster. */
  private slotGroups(userIds: string[]): Array<{ userIds: string[]; keys: string[] }> {
    const entries = userIds.map((userId) => ({ userId, key: this.key(shardOf(userId), userId) }));
    return groupBySlot(entries, (e) => e.key, this.redis.cluster).map((group) => ({ userIds: group.map((e) => e.userId), keys: group.map((e) => e.key) }));
  }

  private key(shard: number, userId: string): string {
    return this.redis.key('presence', `{p${shard}}`, userId);
  }

  private lapsesKey(shard: number): string {
    return this.redis.key('presence-lapses', `{p${shard}}`);
  }
}

/** anyOnline asks of at most this many users share one read per turn (larger ones stop at their first user online). */
const SHARED_ASK_MAX_USERS = 16;

/** Shards of the presence keys: enough to spread over a cluster's primaries, few enough that a sweep (one script call each) stays cheap. */
export const PRESENCE_SHARDS = 16;
const SHARDS = Array.from({ length: PRESENCE_SHARDS }, (_, i) => i);

/** The presence shard of a user (hashShard: stable across instances and restarts). */
const shardOf = (userId: string): number => hashShard(userId, PRESENCE_SHARDS);
