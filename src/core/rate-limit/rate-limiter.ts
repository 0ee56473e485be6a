import { Inject, Injectable } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import type { RateLimit } from '../config/env.schema';
import { AppError } from '../errors';

/** The counter store behind every rate limit: Redis when configured (shared by instances), memory otherwise. */
export const RATE_LIMIT_STORAGE = Symbol('h2v:rate-limit-storage');

export interface RateLimitVerdict {
  allowed: boolean;
  /** Seconds until the window frees up again; meaningful when not allowed. */
  retryAfter: number;
}

/**
 * Limits a service applies itself, keyed by what the HTTP guard cannot see (the signed-in user,
 * the user a request is about). Same store and the same fail-open rule as the HTTP limits.
 */
@Injectable()
export class RateLimiter {
  constructor(@Inject(RATE_LIMIT_STORAGE) private readonly storage: ThrottlerStorage) {}

  /** Counts one hit for `key` in the limit called `name`. */
  async hit(name: string, key: string, limit: RateLimit): Promise<RateLimitVerdict> {
    const windowMs = limit.windowSeconds * 1000;
    const record = await this.storage.increment(`${name}:${key}`, windowMs, limit.limit, windowMs, name);
    return { allowed: !record.isBlocked, retryAfter: Math.max(1, record.timeToBlockExpire || record.timeToExpire) };
  }

  /** Counts one hit, or refuses it with RATE_LIMIT: `refusal` ("Too many reports") and the seconds to wait. */
  async require(name: string, key: string, limit: RateLimit, refusal: string): Promise<void> {
    const { allowed, retryAfter } = await this.hit(name, key, limit);
    if (!allowed) throw new AppError('RATE_LIMIT', `${refusal}; retry in ${retryAfter} s`, { retryAfter });
  }
}
