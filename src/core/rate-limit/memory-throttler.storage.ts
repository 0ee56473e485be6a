import type { OnApplicationShutdown } from '@nestjs/common';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { fixedWindowRecord, ThrottlerStorageRecord } from './redis-throttler.storage';
import { monotonicNow } from './monotonic-clock';

/** How often windows that ended are dropped. */
const SWEEP_MS = 60_000;

/**
 * Rate-limit counters of a single instance (the embedded mode), counted as RedisThrottlerStorage
 * counts them: a fixed window that starts at a key's first hit and lasts `ttl`; past `limit` hits
 * the rest of that window is refused, and the next window counts afresh. (@nestjs/throttler's own
 * memory store keeps each hit for a window after it and then blocks for a further window: a user
 * refused at the end of an hour stayed refused for most of the next.)
 */
export class MemoryThrottlerStorage implements ThrottlerStorage, OnApplicationShutdown {
  private readonly windows = new Map<string, { hits: number; endsAt: number }>();
  private sweeper: NodeJS.Timeout | null = null;

  constructor(private readonly now: () => number = monotonicNow) {}

  async increment(key: string, ttl: number, limit: number, _blockDuration: number, throttlerName: string): Promise<ThrottlerStorageRecord> {
    const now = this.now();
    const id = `${throttlerName}:${key}`;
    let window = this.windows.get(id);
    if (!window || window.endsAt <= now) this.windows.set(id, (window = { hits: 0, endsAt: now + ttl }));
    window.hits++;
    this.sweeper ??= setInterval(() => this.sweep(), SWEEP_MS).unref();
    return fixedWindowRecord(window.hits, window.endsAt - now, limit);
  }

  onApplicationShutdown(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = null;
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, window] of this.windows) if (window.endsAt <= now) this.windows.delete(id);
  }
}
