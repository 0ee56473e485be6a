import { OnApplicationShutdown } from '@nestjs/common';
import { EventLog, EventLogLimits, initialSeq, judgeRead, LogAudience, LogRead, StoredEntry } from './event-log';

interface UserLog {
  counter: number;
  /** Oldest first; at most maxEvents. */
  entries: StoredEntry[];
  touchedAt: number;
}

/** How often logs untouched for the age limit are dropped (as Redis expires the keys). */
const SWEEP_MS = 60_000;

/**
 * The body as an entry keeps it: a small Buffer (Buffer.from of a string, Buffer.concat) is a
 * slice of Node's shared 8 KiB pool, and holding it for the log's lifetime would keep the whole
 * block alive, up to 8 KiB per entry; such a slice is copied to a buffer of its own size.
 */
function compact(body: Buffer): Buffer {
  if (body.byteLength === body.buffer.byteLength) return body;
  const own = Buffer.allocUnsafeSlow(body.byteLength);
  body.copy(own);
  return own;
}

/**
 * The embedded mode's event log: one process, in memory. Trimmed by count on append and by age on
 * read; a user's log untouched for the age limit is forgotten (counter included, as the Redis
 * keys expire), and a restart forgets every log: counters start again at the current time, above
 * every seq issued before, so old positions resync.
 */
export class MemoryEventLog extends EventLog implements OnApplicationShutdown {
  private readonly logs = new Map<string, UserLog>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly limits: EventLogLimits,
    private readonly now: () => number = Date.now,
  ) {
    super();
    this.sweeper = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweeper.unref();
  }

  async append(audiences: LogAudience[]): Promise<Array<Array<number | null>>> {
    const at = this.now();
    return audiences.map(({ userIds, body }) => {
      // One copy per audience: its users' entries share it.
      const kept = compact(body);
      return userIds.map((userId) => {
        const log = this.log(userId, at);
        log.touchedAt = at;
        const seq = ++log.counter;
        log.entries.push({ seq, at, body: kept });
        if (log.entries.length > this.limits.maxEvents) log.entries.splice(0, log.entries.length - this.limits.maxEvents);
        return seq;
      });
    });
  }

  async position(userId: string): Promise<number> {
    return this.log(userId, this.now()).counter;
  }

  async read(userId: string, after: number, limit: number, upTo?: number): Promise<LogRead> {
    const now = this.now();
    const log = this.log(userId, now);
    const end = upTo ?? Infinity;
    const entries: StoredEntry[] = [];
    for (const entry of log.entries) {
      if (entry.seq <= after) continue;
      if (entry.seq > end || entries.length > limit) break;
      entries.push(entry);
    }
    return judgeRead(after, limit, upTo, log.counter, entries, this.limits, now);
  }

  async drop(userId: string): Promise<void> {
    this.logs.delete(userId);
  }

  onApplicationShutdown(): void {
    clearInterval(this.sweeper);
  }

  private log(userId: string, now: number): UserLog {
    let log = this.logs.get(userId);
    // Untouched by appends for the age limit: forgotten, as the Redis keys expire.
    if (!log || now - log.touchedAt > this.limits.maxAgeMs) this.logs.set(userId, (log = { counter: initialSeq(now), entries: [], touchedAt: now }));
    return log;
  }

  private sweep(): void {
    const due = this.now() - this.limits.maxAgeMs;
    for (const [userId, log] of this.logs) if (log.touchedAt < due) this.logs.delete(userId);
  }
}
