import { ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard } from '@nestjs/throttler';
import type { ThrottlerLimitDetail } from '@nestjs/throttler/dist/throttler.guard.interface';
import type { Request } from 'express';
import { AppError } from '../errors';
import { IS_CODE_ROUTE } from './code-route.decorator';

/** A sign-in code route (`@CodeRoute()`): send-otp and verify-otp. */
export const isCodeRoute = (context: ExecutionContext): boolean => Reflect.getMetadata(IS_CODE_ROUTE, context.getHandler()) === true;

/** Under /api/; Express matches routes case-insensitively, so the path is compared the same way. */
export const isApiPath = (req: Request): boolean => req.path.slice(0, 5).toLowerCase() === '/api/';

/**
 * @nestjs/throttler's guard with the throttlers of RateLimitModule. A request no throttler counts
 * (outside /api and not a code route: health, metrics, static files) is let through before the
 * library's per-throttler work (metadata reads, skip checks) — the same answer, for less. Over a
 * limit: 429 RATE_LIMIT in the envelope, with Retry-After in seconds.
 */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  /**
   * The per-address ceiling of the code routes counts first, whatever the windows (the library
   * orders throttlers by window and stops at the first refusal): a request it refuses leaves no
   * per-(address, email) counter behind, which one address could otherwise add for every email
   * it names, for the window's 15 minutes.
   */
  override async onModuleInit(): Promise<void> {
    await super.onModuleInit();
    this.throttlers.sort((a, b) => Number(b.name === 'auth-ip') - Number(a.name === 'auth-ip'));
  }

  override async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    if (!isCodeRoute(context) && !isApiPath(context.switchToHttp().getRequest<Request>())) return true;
    return super.canActivate(context);
  }

  protected override async throwThrottlingException(_context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    const retryAfter = Math.max(1, detail.timeToBlockExpire || detail.timeToExpire);
    throw new AppError('RATE_LIMIT', `Too many requests; retry in ${retryAfter} s`, { retryAfter });
  }
}
