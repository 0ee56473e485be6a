import { ExecutionContext, Injectable } from '@nestjs/common';
import { ThrottlerGuard } from '@nestjs/throttler';
import type { ThrottlerLimitDetail } from '@nestjs/throttler/dist/throttler.guard.interface';
import { AppError } from '../errors';

/** Answers over-limit requests with 429 RATE_LIMIT in the envelope, with Retry-After in seconds. */
@Injectable()
export class RateLimitGuard extends ThrottlerGuard {
  protected override async throwThrottlingException(_context: ExecutionContext, detail: ThrottlerLimitDetail): Promise<void> {
    const retryAfter = Math.max(1, detail.timeToBlockExpire || detail.timeToExpire);
    throw new AppError('RATE_LIMIT', `Too many requests; retry in ${retryAfter} s`, { retryAfter });
  }
}
