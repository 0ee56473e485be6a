import { ExecutionContext, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule, ThrottlerStorage } from '@nestjs/throttler';
import type { Request } from 'express';
import { createHash } from 'node:crypto';
import { AppConfig } from '../config/app-config';
import { requestScope } from '../http/client-address';
import { isApiPath, isCodeRoute, RateLimitGuard } from './rate-limit.guard';
import { RATE_LIMIT_STORAGE } from './rate-limiter';

const isHttp = (context: ExecutionContext) => context.getType() === 'http';
const isHttpCodeRoute = (context: ExecutionContext) => isHttp(context) && isCodeRoute(context);
const isOtherApiRoute = (context: ExecutionContext) => isHttp(context) && isApiPath(context.switchToHttp().getRequest<Request>()) && !isCodeRoute(context);

/** The email a code request or guess is about, as the DTO will normalise it; '' when there is none. */
function bodyEmail(req: Request): string {
  const email: unknown = req.body?.email;
  return typeof email === 'string' ? email.trim().toLowerCase().slice(0, 320) : '';
}

/** One counter per throttler and tracker, shared by every route the throttler covers. */
const sharedKey = (_context: ExecutionContext, tracker: string, name: string) => createHash('sha256').update(`${name}\n${tracker}`).digest('hex');

/**
 * Sign-in code routes (send-otp, verify-otp) count per (client IP, email) with the API text's
 * 20 per 15 minutes, so people sharing an address do not share a budget, and per client IP with
 * a looser ceiling. Every other `/api/*` route, logout and the session routes included, counts
 * per client IP and route. Anything outside /api (health, static files) is not limited. IPv6
 * clients count by /64. The per-email code budget itself lives in the auth feature (database).
 */
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      inject: [AppConfig, RATE_LIMIT_STORAGE],
      useFactory: (config: AppConfig, storage: ThrottlerStorage) => ({
        storage,
        setHeaders: false,
        getTracker: (req) => requestScope(req),
        throttlers: [
          {
            name: 'auth',
            limit: config.values.rateLimitAuth.limit,
            ttl: config.values.rateLimitAuth.windowSeconds * 1000,
            skipIf: (context) => !isHttpCodeRoute(context),
            getTracker: (req) => `${requestScope(req)}\n${bodyEmail(req as Request)}`,
            generateKey: sharedKey,
          },
          {
            name: 'auth-ip',
            limit: config.values.rateLimitAuthIp.limit,
            ttl: config.values.rateLimitAuthIp.windowSeconds * 1000,
            skipIf: (context) => !isHttpCodeRoute(context),
            generateKey: sharedKey,
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
