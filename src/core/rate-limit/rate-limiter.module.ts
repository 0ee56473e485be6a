import { Global, Module } from '@nestjs/common';
import { RedisService } from '../redis/redis.service';
import { MemoryThrottlerStorage } from './memory-throttler.storage';
import { RATE_LIMIT_STORAGE, RateLimiter } from './rate-limiter';
import { RedisThrottlerStorage } from './redis-throttler.storage';

/**
 * The rate-limit counter store and the RateLimiter port. Part of the core every process loads
 * (feature services use the port, and the worker builds feature services too); the HTTP guard
 * of RateLimitModule counts in the same store.
 */
@Global()
@Module({
  providers: [
    {
      provide: RATE_LIMIT_STORAGE,
      inject: [RedisService],
      useFactory: (redis: RedisService) => (redis.enabled ? new RedisThrottlerStorage(redis) : new MemoryThrottlerStorage()),
    },
    RateLimiter,
  ],
  exports: [RATE_LIMIT_STORAGE, RateLimiter],
})
export class RateLimiterModule {}
