import type { RateLimit } from '../config/env.schema';
import { monotonicNow } from './monotonic-clock';

interface Bucket {
  tokens: number;
  at: number;
}

/**
 * In-process token buckets, one per key: a burst of `limit` tokens, refilled evenly over
 * `windowSeconds` (`30/3` = 30 at once, then 10 per second). A check is a map lookup and some
 * arithmetic, so it can sit in front of every socket frame; refilled buckets are forgotten by
 * `prune`, so idle keys cost nothing.
 */
export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;

  constructor(
    private readonly budget: RateLimit,
    private readonly now: () => number = monotonicNow,
  ) {
    this.perMs = budget.limit / (budget.windowSeconds * 1000);
  }

  /** Takes a token for `key`: 0 when there was one, otherwise the milliseconds until there is (nothing is taken). */
  take(key: string): number {
    const now = this.now();
    const bucket = this.buckets.get(key);
    const tokens = bucket ? this.refilled(bucket, now) : this.budget.limit;
    if (tokens < 1) return Math.ceil((1 - tokens) / this.perMs);
    if (bucket) {
      bucket.tokens = tokens - 1;
      bucket.at = now;
    } else {
      this.buckets.set(key, { tokens: tokens - 1, at: now });
    }
    return 0;
  }

  /** Drops the buckets that are full again: a fresh bucket is the same thing. */
  prune(): void {
    const now = this.now();
    for (const [key, bucket] of this.buckets) if (this.refilled(bucket, now) >= this.budget.limit) this.buckets.delete(key);
  }

  get size(): number {
    return this.buckets.size;
  }

  private refilled(bucket: Bucket, now: number): number {
    return Math.min(this.budget.limit, bucket.tokens + (now - bucket.at) * this.perMs);
  }
}
