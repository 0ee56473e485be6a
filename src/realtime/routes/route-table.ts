import { RedisScript } from '../../core/redis/redis-script';
import { RedisService } from '../../core/redis/redis.service';

/** An instance's route to a user lapses this long after it was last renewed: a dead instance's routes go with it. */
export const ROUTE_LEASE_MS = 60_000;
/** How often an instance renews the routes of the users it holds sockets of. */
export const ROUTE_RENEW_MS = 20_000;

// A sorted set per user, in a hash slot of its own ({userId}): member = instance id, score = lease
// expiry (ms). Lapsed members go on every write; the key lives as long as its newest lease.
const JOIN = new RedisScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`);

/**
 * Which instances hold a socket of which user, in Redis: the route table of the bus. An
 * instance adds itself to a user's routes before it reads the position auth:ok reports (so a
 * publisher that reads the routes after allocating a later seq finds it), drops itself when the
 * user's last socket here closes, and renews the routes of every user it holds; the routes of an
 * instance that died lapse after ROUTE_LEASE_MS (its users reconnect elsewhere and resume from
 * their event log). One key per user: every command stays within one cluster hash slot.
 *
 * During a Redis outage every call degrades at once: a join not written is written by the next
 * renewal, and a read finds nothing (the publish it serves would fail as well).
 */
export class RouteTable {
  constructor(
    private readonly redis: RedisService,
    readonly instanceId: string,
  ) {}

  /** Adds this instance to the user's routes; resolves false when Redis did not take it. */
  async join(userId: string): Promise<boolean> {
    const now = Date.now();
    const done = await this.redis.bounded(
      'route join',
      (c) => JOIN.run<number>(c, [this.key(userId)], [now, now + ROUTE_LEASE_MS, this.instanceId, ROUTE_LEASE_MS]),
      0,
    );
    return done === 1;
  }

  /** Removes this instance from the user's routes (their last socket here closed). */
  async leave(userId: string): Promise<void> {
    await this.redis.bounded('route leave', (c) => c.zrem(this.key(userId), this.instanceId), 0);
  }

  /** Renews this instance's routes to these users (commands of one tick go out in one write). */
  async renew(userIds: Iterable<string>): Promise<void> {
    await Promise.all([...userIds].map((userId) => this.join(userId)));
  }

  /** Each user's instances with a live route; a user Redis did not answer for is missing from the map. */
  async read(userIds: string[]): Promise<Map<string, string[]>> {
    const now = Date.now();
    const found = new Map<string, string[]>();
    await Promise.all(
      userIds.map(async (userId) => {
        const instances = await this.redis.bounded('route read', (c) => c.zrangebyscore(this.key(userId), `(${now}`, '+inf'), null);
        if (instances) found.set(userId, instances);
      }),
    );
    return found;
  }

  private key(userId: string): string {
    return this.redis.key('route', `{${userId}}`);
  }
}
