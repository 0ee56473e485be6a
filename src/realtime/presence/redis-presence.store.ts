import { Injectable } from '@nestjs/common';
import { RedisService } from '../../core/redis/redis.service';
import { PresenceStore } from './presence-store';

// A sorted set per user: member = connection id, score = lease expiry (ms). Expired members are
// pruned on every touch; the key itself expires with the longest lease. One more sorted set,
// "lapses", holds every user with a lease at the latest expiry among their leases: what is due in
// it belongs to users whose leases ran out without a disconnect.
const CONNECT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local before = redis.call('ZCARD', KEYS[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('ZADD', KEYS[2], 'GT', ARGV[2], ARGV[5])
return before`;
// 1 when no lease is left and the user was still unreported (in "lapses"): the sweeper and this
// script each remove the user from "lapses" first, so exactly one of them reports the user offline.
const DISCONNECT = `
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) > 0 then return 0 end
return redis.call('ZREM', KEYS[2], ARGV[3])`;
// Claims due users whose leases are all gone (ZREM makes the claim single); a user with a live
// lease left is pushed back to that lease's expiry. Per-user keys are built from ARGV[3]: one Redis, not a cluster.
const CLAIM_LAPSED = `
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
return claimed`;

// One flag per user (1 = a live lease): one command for a whole chat list instead of one per user.
const ONLINE = `
local flags = {}
for i = 1, #KEYS do
  flags[i] = redis.call('ZCOUNT', KEYS[i], '(' .. ARGV[1], '+inf') > 0 and 1 or 0
end
return flags`;
// 1 as soon as one user has a live lease: one command for a whole group instead of one per member.
const ANY_ONLINE = `
for i = 1, #KEYS do
  if redis.call('ZCOUNT', KEYS[i], '(' .. ARGV[1], '+inf') > 0 then return 1 end
end
return 0`;

/**
 * Presence shared by every instance through Redis. During a Redis outage every call degrades at
 * once (RedisService.bounded): presence unknown reads as offline, a lease not taken produces no
 * `user:online`, and leases taken before the outage lapse by themselves.
 */
@Injectable()
export class RedisPresenceStore extends PresenceStore {
  constructor(private readonly redis: RedisService) {
    super();
  }

  async connect(userId: string, connectionId: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const before = await this.redis.bounded(
      'presence connect',
      (c) => c.eval(CONNECT, 2, this.key(userId), this.lapsesKey, now, now + ttlMs, connectionId, ttlMs, userId) as Promise<number>,
      null,
    );
    return before === 0;
  }

  async disconnect(userId: string, connectionId: string): Promise<boolean> {
    const last = await this.redis.bounded(
      'presence disconnect',
      (c) => c.eval(DISCONNECT, 2, this.key(userId), this.lapsesKey, Date.now(), connectionId, userId) as Promise<number>,
      0,
    );
    return last === 1;
  }

  claimLapsed(limit: number): Promise<string[]> {
    return this.redis.bounded('presence sweep', (c) => c.eval(CLAIM_LAPSED, 1, this.lapsesKey, Date.now(), limit, this.key('')) as Promise<string[]>, []);
  }

  async online(userIds: string[]): Promise<Set<string>> {
    if (!userIds.length) return new Set();
    const flags = await this.redis.bounded(
      'presence read',
      (c) => c.eval(ONLINE, userIds.length, ...userIds.map((id) => this.key(id)), Date.now()) as Promise<number[]>,
      [] as number[],
    );
    return new Set(userIds.filter((_, i) => flags[i] === 1));
  }

  async anyOnline(userIds: string[]): Promise<boolean> {
    if (!userIds.length) return false;
    const found = await this.redis.bounded(
      'presence read',
      (c) => c.eval(ANY_ONLINE, userIds.length, ...userIds.map((id) => this.key(id)), Date.now()) as Promise<number>,
      0,
    );
    return found === 1;
  }

  private key(userId: string): string {
    return this.redis.key('presence', userId);
  }

  private get lapsesKey(): string {
    return this.redis.key('presence-lapses');
  }
}
