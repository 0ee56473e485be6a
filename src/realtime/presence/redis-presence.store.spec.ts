import { AppConfig } from '../../core/config/app-config';
import { RedisService } from '../../core/redis/redis.service';
import { TEST_REDIS_URL } from '../../../test/support/env';
import type { ConnectionRegistry } from '../connection-registry';
import { RedisPresenceStore } from './redis-presence.store';

/** Presence reads against a real Redis (the e2e suites cover presence across instances). */
(TEST_REDIS_URL ? describe : describe.skip)('RedisPresenceStore', () => {
  const prefix = `test_presence_${process.pid}_${Date.now()}`;
  let redis: RedisService;
  let store: RedisPresenceStore;
  const reads: string[] = [];
  beforeAll(async () => {
    redis = new RedisService({ usesRedis: true, values: { redisUrl: TEST_REDIS_URL, redisPrefix: prefix } } as unknown as AppConfig);
    await redis.onModuleInit();
    // Counts the store's reads of Redis.
    const bounded = redis.bounded.bind(redis);
    redis.bounded = ((label: string, ...rest: Parameters<RedisService['bounded']> extends [string, ...infer R] ? R : never) => {
      reads.push(label);
      return bounded(label, ...rest);
    }) as RedisService['bounded'];
    store = new RedisPresenceStore(redis, { anyPresent: () => false } as unknown as ConnectionRegistry);
  });
  afterAll(async () => {
    const keys = await redis.client.keys(`${prefix}:*`);
    if (keys.length) await redis.client.unlink(...keys);
    await redis.onApplicationShutdown();
  });

  it('answers the anyOnline asks of few users made in one turn with one read, each with its own answer', async () => {
    await store.connect('on-1', 'c1', 60_000);
    await store.connect('on-2', 'c2', 60_000);
    await store.connect('gone', 'c3', 60_000);
    await store.disconnect('gone', 'c3');
    reads.length = 0;
    const answers = await Promise.all([
      store.anyOnline(['off-1']),
      store.anyOnline(['on-1']),
      store.anyOnline(['off-2', 'on-2']),
      store.anyOnline(['gone']),
      store.anyOnline(['on-1', 'off-1']),
    ]);
    expect(answers).toEqual([false, true, true, false, true]);
    expect(reads).toEqual(['presence read']);
  });

  it('reads a larger ask on its own, and answers from this instance without Redis', async () => {
    const crowd = Array.from({ length: 40 }, (_, i) => `crowd-${i}`);
    await store.connect('crowd-39', 'c4', 60_000);
    reads.length = 0;
    expect(await Promise.all([store.anyOnline(crowd), store.anyOnline(crowd.slice(0, 39)), store.anyOnline(['off-3'])])).toEqual([true, false, false]);
    expect(reads).toEqual(['presence read', 'presence read', 'presence read']);
    const local = new RedisPresenceStore(redis, { anyPresent: (ids: string[]) => ids.includes('here') } as unknown as ConnectionRegistry);
    reads.length = 0;
    expect(await local.anyOnline(['here'])).toBe(true);
    expect(reads).toEqual([]);
  });
});
