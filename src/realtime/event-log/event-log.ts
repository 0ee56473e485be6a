import type { ClientEventName } from '../client-events';

/**
 * Events that carry no seq and are not logged: ephemeral states that a replay would only make
 * wrong (a stale "is typing"; presence, which `presence:snapshot` restores on every connect).
 * Every other event addressed to a user is logged. The connection-local frames (`auth:ok`,
 * `presence:snapshot`, `error`, `message:send:error`, `resync:required`) never pass through the
 * publisher at all.
 */
export const UNLOGGED_EVENTS: ReadonlySet<ClientEventName> = new Set<ClientEventName>(['typing:started', 'typing:stopped', 'user:online', 'user:offline']);

export function isLogged(event: string): boolean {
  return !UNLOGGED_EVENTS.has(event as ClientEventName);
}

/** How much of each user's recent events is kept (EVENT_LOG_MAX_EVENTS, EVENT_LOG_MAX_AGE_SECONDS). */
export interface EventLogLimits {
  maxEvents: number;
  maxAgeMs: number;
}

/** One audience of a publish: a frame body `{"event":…,"payload":…}` (without seq) and its users. */
export interface LogAudience {
  userIds: string[];
  body: Buffer;
}

/** An event read back from a user's log: its seq and its frame body without seq. */
export interface LoggedEvent {
  seq: number;
  body: Buffer;
}

/**
 * What reading a user's log after a position found:
 * - `events`: every event after it (up to the limit, `hasMore` when there are further ones);
 * - `resync`: the position is older than the log holds (trimmed by count or age, or lost), so
 *   the events after it cannot all be given: the client reloads its state over HTTP;
 * - `future`: the position is beyond the user's latest seq — not a position of this user.
 * `position` is the user's latest seq at the time of the read.
 */
export type LogRead =
  | { kind: 'events'; events: LoggedEvent[]; hasMore: boolean; position: number }
  | { kind: 'resync'; position: number }
  | { kind: 'future'; position: number };

/**
 * Each user's bounded log of recent events, and their seq: a per-user, strictly increasing
 * position allocated together with the append (one atomic step per user), so every seq at or
 * below a user's current position is in the log unless it was trimmed.
 *
 * A user's counter starts, when it does not exist (first use, expired, or lost with the store),
 * at the current time in microseconds (`Date.now() * 1000`, below 2^53): a counter that restarts
 * is above every seq issued before, so an old position reads as older than the log (`resync`)
 * and never as a position of the future.
 */
export abstract class EventLog {
  /**
   * Allocates a seq for each user of each audience and appends the body to that user's log.
   * Resolves, per audience, the users' seqs in order (null for a user whose append failed: the
   * store is unreachable; such a user's log is marked as having a gap, so a position before it
   * resyncs rather than replaying around the missing event).
   */
  abstract append(audiences: LogAudience[]): Promise<Array<Array<number | null>>>;

  /** The user's latest seq (starting the counter if there is none); null when the store is unreachable. */
  abstract position(userId: string): Promise<number | null>;

  /**
   * The user's events after `after`, oldest first, at most `limit`, only up to `upTo` when given.
   * Null when the store is unreachable.
   */
  abstract read(userId: string, after: number, limit: number, upTo?: number): Promise<LogRead | null>;

  /**
   * Forgets the user's log and counter (a deleted account: what it held — messages, chats with
   * their members' profiles — must not outlive the account until the log expires). Appends
   * requested before the call are written first, so none lands after the drop. Best effort: a
   * store that is unreachable keeps the log until it expires.
   */
  abstract drop(userId: string): Promise<void>;
}

/**
 * A seq written as text (a URL's `?lastSeq=`, `GET /api/events?after=`): decimal digits only, at
 * most 16 (a seq is below 2^53); null for anything else, so that an empty value is not read as 0
 * nor `0x10` as 16. The one rule for both, the socket's and the HTTP one.
 */
export function seqOfText(value: string): number | null {
  return /^\d{1,16}$/.test(value) ? Number(value) : null;
}

/** Start of a counter that does not exist: now, in microseconds. */
export function initialSeq(now = Date.now()): number {
  return now * 1000;
}

/** A frame body with its seq as the last key: `{"event":…,"payload":…}` → `{"event":…,"payload":…,"seq":N}`, without parsing it. */
export function bodyWithSeq(body: Buffer, seq: number): Buffer {
  const suffix = `,"seq":${seq}}`;
  const out = Buffer.allocUnsafe(body.length - 1 + suffix.length);
  body.copy(out, 0, 0, body.length - 1);
  out.write(suffix, body.length - 1, 'latin1');
  return out;
}

/** An entry as a store holds it: a null body marks a gap (an append that failed). */
export interface StoredEntry {
  seq: number;
  /** When it was appended (ms). */
  at: number;
  body: Buffer | null;
}

/**
 * The one rule both stores read by. `entries` are the stored entries after `after` (and at most
 * `end`), oldest first, at most `limit + 1` of them; `counter` is the user's latest seq, read
 * with them in one step. The events after `after` can be given only if every seq from
 * `after + 1` on is there, in the newest `maxEvents`, younger than `maxAgeMs`, and no gap.
 */
export function judgeRead(after: number, limit: number, upTo: number | undefined, counter: number, entries: StoredEntry[], limits: EventLogLimits, now = Date.now()): LogRead {
  if (after > counter) return { kind: 'future', position: counter };
  const end = Math.min(upTo ?? counter, counter);
  if (after >= end) return { kind: 'events', events: [], hasMore: false, position: counter };
  if (after < counter - limits.maxEvents) return { kind: 'resync', position: counter };
  const oldest = now - limits.maxAgeMs;
  const events: LoggedEvent[] = [];
  let expected = after + 1;
  for (const entry of entries.slice(0, limit)) {
    if (entry.seq !== expected || !entry.body || entry.at < oldest) return { kind: 'resync', position: counter };
    events.push({ seq: entry.seq, body: entry.body });
    expected++;
  }
  const hasMore = entries.length > limit;
  // Fewer than asked for, yet not up to the end: the rest is gone.
  if (!hasMore && expected - 1 !== end) return { kind: 'resync', position: counter };
  return { kind: 'events', events, hasMore, position: counter };
}
