/**
 * A publisher's copy of the route table: for each recipient it published to lately, the
 * instances holding a socket of theirs. Warm entries answer without Redis, so a send puts no
 * route read in front of its bus message; an entry lives `ttlMs`, and one read after half of
 * that asks for a refresh while it still answers, so a user who keeps getting events keeps a
 * warm entry.
 *
 * An entry can be stale in one way that matters: an instance that got the user's first socket
 * after it was read. That instance announces the arrival (invalidate) and catches its new
 * sockets up from the event log once `ttlMs` (plus a margin) has passed, by when no entry read
 * before its arrival answers any more (RouteTable). A read that started before an invalidation
 * of its user is not kept (it may predate the arrival).
 */
export class RouteCache {
  private readonly entries = new Map<string, { instances: readonly string[]; readAt: number }>();
  /** When each user was last invalidated, kept for one ttl (older reads have expired anyway). */
  private readonly invalidatedAt = new Map<string, number>();
  private clearedAt = -Infinity;
  private lastPrune = 0;

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The user's instances, or undefined when there is no live entry (a read is needed). */
  get(userId: string): readonly string[] | undefined {
    const entry = this.entries.get(userId);
    if (!entry) return undefined;
    if (this.now() - entry.readAt >= this.ttlMs) {
      this.entries.delete(userId);
      return undefined;
    }
    return entry.instances;
  }

  /** Whether the user's entry is missing or old enough that it should be read again. */
  wantsRead(userId: string): boolean {
    const entry = this.entries.get(userId);
    return !entry || this.now() - entry.readAt >= this.ttlMs / 2;
  }

  /** Files what a read that started at `startedAt` found; dropped when the user was invalidated since. */
  set(userId: string, instances: readonly string[], startedAt: number): void {
    const invalidated = this.invalidatedAt.get(userId);
    if ((invalidated !== undefined && invalidated >= startedAt) || this.clearedAt >= startedAt) return;
    this.entries.set(userId, { instances, readAt: startedAt });
    this.prune();
  }

  /** The user got a socket on another instance: the next event for them reads the table. */
  invalidate(userId: string): void {
    this.entries.delete(userId);
    this.invalidatedAt.set(userId, this.now());
    // Every process hears every arrival, publishing or not (the worker): the marks are pruned here too.
    this.prune();
  }

  /** Forgets everything (the bus came back after an outage: invalidations may have been missed). */
  clear(): void {
    this.entries.clear();
    this.clearedAt = this.now();
  }

  /** What it holds, entries and invalidation marks: about the users it heard of within the last ttl or two. */
  get size(): number {
    return this.entries.size + this.invalidatedAt.size;
  }

  /** Drops expired entries and invalidation marks, at most once per ttl. */
  private prune(): void {
    const now = this.now();
    if (now - this.lastPrune < this.ttlMs) return;
    this.lastPrune = now;
    for (const [userId, entry] of this.entries) if (now - entry.readAt >= this.ttlMs) this.entries.delete(userId);
    for (const [userId, at] of this.invalidatedAt) if (now - at >= this.ttlMs) this.invalidatedAt.delete(userId);
  }
}
