import { ExecutionContext, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule, ThrottlerStorageService } from '@nestjs/throttler';
import type { Request } from 'express';
import { AppConfig } from '../config/app-config';
import { RedisService } from '../redis/redis.service';
import { RateLimitGuard } from './rate-limit.guard';
import { RedisThrottlerStorage } from './redis-throttler.storage';

const path = (context: ExecutionContext) => (context.getType() === 'http' ? context.switchToHttp().getRequest<Request>().path : '');
const isAuthRoute = (context: ExecutionContext) => path(context).startsWith('/api/auth/');
const isOtherApiRoute = (context: ExecutionContext) => path(context).startsWith('/api/') && !isAuthRoute(context);

/**
 * Two limits, as the API text sets them: `/api/auth/*` and every other `/api/*` route.
 * Anything outside /api (health, static files) is not limited. Counters live in Redis when
 * it is configured, so instances share them; in memory otherwise.
 */
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      inject: [AppConfig, RedisService],
      useFactory: (config: AppConfig, redis: RedisService) => ({
        storage: redis.enabled ? new RedisThrottlerStorage(redis) : new ThrottlerStorageService(),
        setHeaders: false,
        throttlers: [
          {
            name: 'auth',
            limit: config.values.rateLimitAuth.limit,
            ttl: config.values.rateLimitAuth.windowSeconds * 1000,
            skipIf: (context) => !isAuthRoute(context),
          },
          {
            name: 'api',
            limit: config.values.rateLimitApi.limit,
            ttl: config.values.rateLimitApi.windowSeconds * 1000,
            skipIf: (context) => !isOtherApiRoute(context),
          },
        ],
      }),
    }),
  ],
  providers: [{ provide: APP_GUARD, useClass: RateLimitGuard }],
})
export class RateLimitModule {}
