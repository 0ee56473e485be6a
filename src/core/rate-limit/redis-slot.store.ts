import { groupBySlot } from '../redis/key-slot';
import { RedisScript } from '../redis/redis-script';
import { RedisClient, RedisService } from '../redis/redis.service';
import { REDIS_TIMEOUT_MS } from './redis-throttler.storage';
import { SlotLease, SlotStore } from './slot-store';

// A sorted set per key: member = holder, score = lease expiry (ms). Lapsed members are pruned
// before counting; the key itself expires with its latest lease (every lease has the same ttl).
const ACQUIRE = new RedisScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if not redis.call('ZSCORE', KEYS[1], ARGV[3]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
return 1`);
const RENEW = new RedisScript(`
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], ARGV[1], ARGV[i + 2])
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
return #KEYS`);
/** Leases renewed per script call, so one renewal never holds Redis for long. */
const RENEW_BATCH = 500;

/**
 * Slots shared by every instance through Redis, with the rate-limit counters' failure rule: a
 * check that Redis does not answer within REDIS_TIMEOUT_MS admits (RedisService.bounded logs
 * it), so a Redis outage does not lock every client out. Releases and renewals are ordered after
 * the acquire on the one command connection, so a released lease is never renewed back; one that
 * fails only leaves a lease to lapse.
 */
export class RedisSlotStore extends SlotStore {
  constructor(private readonly redis: RedisService) {
    super();
  }

  async acquire(lease: SlotLease, limit: number, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const acquire = (c: RedisClient) => ACQUIRE.run<number>(c, [this.key(lease.key)], [now, now + ttlMs, lease.holder, limit, ttlMs]);
    return (await this.redis.bounded('socket slots', acquire, 1, REDIS_TIMEOUT_MS)) === 1;
  }

  async release(lease: SlotLease): Promise<void> {
    await this.redis.bounded('socket slots', (c) => c.zrem(this.key(lease.key), lease.holder), 0);
  }

  async renew(leases: SlotLease[], ttlMs: number): Promise<void> {
    const expiresAt = Date.now() + ttlMs;
    const batches: Promise<unknown>[] = [];
    // On a cluster a script's keys share a slot: leases are renewed per slot (auto-pipelined, one write per primary).
    for (const group of groupBySlot(leases, (l) => this.key(l.key), this.redis.cluster)) {
      for (let i = 0; i < group.length; i += RENEW_BATCH) {
        const batch = group.slice(i, i + RENEW_BATCH);
        batches.push(this.redis.bounded('socket slots', (c) => RENEW.run(c, batch.map((l) => this.key(l.key)), [expiresAt, ttlMs, ...batch.map((l) => l.holder)]), 0));
      }
    }
    await Promise.all(batches);
  }

  private key(key: string): string {
    return this.redis.key('slots', key);
  }
}
