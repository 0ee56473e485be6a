import { ExecutionContext, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule, ThrottlerStorageService } from '@nestjs/throttler';
import type { Request } from 'express';
import { AppConfig } from '../config/app-config';
import { RedisService } from '../redis/redis.service';
import { RateLimitGuard } from './rate-limit.guard';
import { RedisThrottlerStorage } from './redis-throttler.storage';

const isAuthRoute = (context: ExecutionContext) => context.switchToHttp().getRequest<Request>().path.startsWith('/api/auth/');
const isApiRoute = (context: ExecutionContext) => context.switchToHttp().getRequest<Request>().path.startsWith('/api/');

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
        skipIf: (context) => context.getType() !== 'http' || !isApiRoute(context),
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
            skipIf: (context) => isAuthRoute(context),
          },
        ],
      }),
    }),
  ],
  providers: [{ provide: APP_GUARD, useClass: RateLimitGuard }],
})
export class RateLimitModule {}
