import { Injectable } from '@nestjs/common';
import { RedisService } from '../../core/redis/redis.service';
import { PresenceStore } from './presence-store';

// A sorted set per user: member = connection id, score = lease expiry (ms). Expired members are
// pruned on every touch; the key itself expires with the longest lease.
const CONNECT = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
local before = redis.call('ZCARD', KEYS[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return before`;
const DISCONNECT = `
redis.call('ZREM', KEYS[1], ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
return redis.call('ZCARD', KEYS[1])`;

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

/** Presence shared by every instance through Redis. */
@Injectable()
export class RedisPresenceStore extends PresenceStore {
  constructor(private readonly redis: RedisService) {
    super();
  }

  async connect(userId: string, connectionId: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const before = (await this.redis.client.eval(CONNECT, 1, this.key(userId), now, now + ttlMs, connectionId, ttlMs)) as number;
    return before === 0;
  }

  async disconnect(userId: string, connectionId: string): Promise<boolean> {
    const left = (await this.redis.client.eval(DISCONNECT, 1, this.key(userId), Date.now(), connectionId)) as number;
    return left === 0;
  }

  async online(userIds: string[]): Promise<Set<string>> {
    if (!userIds.length) return new Set();
    const flags = (await this.redis.client.eval(ONLINE, userIds.length, ...userIds.map((id) => this.key(id)), Date.now())) as number[];
    return new Set(userIds.filter((_, i) => flags[i] === 1));
  }

  async anyOnline(userIds: string[]): Promise<boolean> {
    if (!userIds.length) return false;
    const found = (await this.redis.client.eval(ANY_ONLINE, userIds.length, ...userIds.map((id) => this.key(id)), Date.now())) as number;
    return found === 1;
  }

  private key(userId: string): string {
    return this.redis.key('presence', userId);
  }
}
