import type { ThrottlerStorage } from '@nestjs/throttler';
import { RedisScript } from '../redis/redis-script';
import { RedisService } from '../redis/redis.service';

export type ThrottlerStorageRecord = Awaited<ReturnType<ThrottlerStorage['increment']>>;

/** A counter update that takes longer than this counts as Redis being unreachable. */
export const REDIS_TIMEOUT_MS = 500;

// Fixed window: INCR, set the window's expiry on the first hit, read what remains. One round trip.
const INCREMENT = new RedisScript(`
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return { hits, ttl }`);

/**
 * Rate-limit counters in Redis, so every instance behind the load balancer shares them.
 * When Redis is unreachable the limiter fails open (logged, and /api/health turns 503): a
 * Redis outage must not turn into a full API outage.
 */
export class RedisThrottlerStorage implements ThrottlerStorage {
  constructor(private readonly redis: RedisService) {}

  async increment(key: string, ttl: number, limit: number, _blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    const counted = await this.redis.bounded(
      'rate limit',
      (c) => INCREMENT.run<[number, number]>(c, [this.redis.key('rl', throttlerName, key)], [ttl]),
      null,
      REDIS_TIMEOUT_MS,
    );
    if (!counted) return { totalHits: 0, timeToExpire: Math.ceil(ttl / 1000), isBlocked: false, timeToBlockExpire: 0 };
    const [totalHits, remainingMs] = counted;
    return fixedWindowRecord(totalHits, remainingMs, limit);
  }
}

/**
 * A fixed window's count as @nestjs/throttler reads it, here and in MemoryThrottlerStorage: past
 * `limit` hits the rest of the window (at least a second) is refused.
 */
export function fixedWindowRecord(totalHits: number, remainingMs: number, limit: number): ThrottlerStorageRecord {
  const seconds = Math.max(1, Math.ceil(remainingMs / 1000));
  const isBlocked = totalHits > limit;
  return { totalHits, timeToExpire: seconds, isBlocked, timeToBlockExpire: isBlocked ? seconds : 0 };
}
