import { Injectable } from '@nestjs/common';
import { RedisService } from '../core/redis/redis.service';

/**
 * How long a pending mark lives after it was made or after its delivery last looked at it (not
 * after later claims): longer than a delivery waits between two tries (push-deliver: 2 s
 * doubling over 5 attempts, or a Retry-After of at most MAX_RETRY_AFTER_MS), so a delivery that
 * failed for good holds its subscription and chat back this long at most, however busy the chat.
 */
export const PENDING_TTL_MS = 10 * 60_000;
/**
 * How long the newest notified message of a (subscription, chat) is remembered: as long as a push
 * service keeps a notification for an offline device (the TTL every notification is sent with).
 */
export const NOTIFIED_TTL_MS = 24 * 3_600_000;
/** The embedded gate remembers at most this many pairs' notified seqs (memory stays bounded). */
const MAX_NOTIFIED_PAIRS = 100_000;

/**
 * Coalescing of notifications, per (subscription, chat): while a delivery for the pair is queued
 * or running, further messages of the chat only bump a counter, and the running delivery, before
 * it lets go, sends once more if the counter moved (so the device ends on the newest message).
 * A burst of 50 messages thus costs one push while the first is on its way, and one more after.
 *
 * `claim` answers whether the caller must queue a delivery (nothing was pending); a delivery
 * reads `mark` before it looks at the chat and `release`s with it when done, which succeeds only
 * if no claim came in between (else it takes the new mark and looks again). The compare and the
 * delete are one step, so a message is never left with no delivery to carry it.
 *
 * `notified` / `noteNotified` remember the newest message (its chat seq) pushed to the pair, so a
 * delivery never pushes a message that was already pushed: a fan-out run twice (a retry after a
 * partial failure, a job BullMQ runs again after its worker stalled) claims the pair again once the
 * first delivery let go, and its delivery finds that newest unread message already notified.
 */
export abstract class PushGate {
  abstract claim(subscriptionId: string, chatId: string): Promise<boolean>;
  abstract mark(subscriptionId: string, chatId: string): Promise<string | null>;
  abstract release(subscriptionId: string, chatId: string, mark: string | null): Promise<boolean>;
  /** Drops the pending mark (its delivery could not be queued). */
  abstract abandon(subscriptionId: string, chatId: string): Promise<void>;
  /** The chat seq of the newest message pushed to the pair, if any. */
  abstract notified(subscriptionId: string, chatId: string): Promise<bigint | null>;
  /** Records that the message of chat seq `seq` was pushed to the pair (a lower seq than the recorded one changes nothing). */
  abstract noteNotified(subscriptionId: string, chatId: string, seq: bigint): Promise<void>;
}

const CLAIM = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;
const MARK = `
local n = redis.call('GET', KEYS[1])
if n then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;
// Released when the mark is still the one the delivery started from, or gone (expired).
const RELEASE = `
local n = redis.call('GET', KEYS[1])
if not n then return 1 end
if n == ARGV[1] then redis.call('DEL', KEYS[1]) return 1 end
return 0`;
// Keeps the higher of the recorded seq and ARGV[1]: decimal strings without leading zeros, so the longer is the larger.
const NOTE_NOTIFIED = `
local n = redis.call('GET', KEYS[1])
if n and (#n > #ARGV[1] or (#n == #ARGV[1] and n >= ARGV[1])) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

/** The gate shared by every instance and worker. Errors propagate: the job retries. */
@Injectable()
export class RedisPushGate extends PushGate {
  constructor(private readonly redis: RedisService) {
    super();
  }

  async claim(subscriptionId: string, chatId: string): Promise<boolean> {
    return ((await this.redis.client.eval(CLAIM, 1, this.key(subscriptionId, chatId), PENDING_TTL_MS)) as number) === 1;
  }

  async mark(subscriptionId: string, chatId: string): Promise<string | null> {
    return (await this.redis.client.eval(MARK, 1, this.key(subscriptionId, chatId), PENDING_TTL_MS)) as string | null;
  }

  async release(subscriptionId: string, chatId: string, mark: string | null): Promise<boolean> {
    return ((await this.redis.client.eval(RELEASE, 1, this.key(subscriptionId, chatId), mark ?? '')) as number) === 1;
  }

  async abandon(subscriptionId: string, chatId: string): Promise<void> {
    await this.redis.client.del(this.key(subscriptionId, chatId));
  }

  async notified(subscriptionId: string, chatId: string): Promise<bigint | null> {
    const seq = await this.redis.client.get(this.notifiedKey(subscriptionId, chatId));
    return seq === null ? null : BigInt(seq);
  }

  async noteNotified(subscriptionId: string, chatId: string, seq: bigint): Promise<void> {
    await this.redis.client.eval(NOTE_NOTIFIED, 1, this.notifiedKey(subscriptionId, chatId), seq.toString(), NOTIFIED_TTL_MS);
  }

  private key(subscriptionId: string, chatId: string): string {
    return this.redis.key('push-pending', subscriptionId, chatId);
  }

  private notifiedKey(subscriptionId: string, chatId: string): string {
    return this.redis.key('push-notified', subscriptionId, chatId);
  }
}

/** The gate of the embedded mode: one process, two maps. */
@Injectable()
export class MemoryPushGate extends PushGate {
  private readonly pending = new Map<string, { count: number; expiresAt: number }>();
  /** Newest notified seq per pair (insertion-ordered by last note: the oldest go first past MAX_NOTIFIED_PAIRS). */
  private readonly pushed = new Map<string, { seq: bigint; expiresAt: number }>();
  private sweptAt = Date.now();

  /** Pairs pending for now (claims not released, abandoned or expired yet). */
  get pendingCount(): number {
    return this.pending.size;
  }

  async claim(subscriptionId: string, chatId: string): Promise<boolean> {
    this.sweep();
    const key = `${subscriptionId}:${chatId}`;
    const entry = this.live(key);
    if (entry) {
      entry.count++;
      return false;
    }
    this.pending.set(key, { count: 1, expiresAt: Date.now() + PENDING_TTL_MS });
    return true;
  }

  async mark(subscriptionId: string, chatId: string): Promise<string | null> {
    const entry = this.live(`${subscriptionId}:${chatId}`);
    if (!entry) return null;
    entry.expiresAt = Date.now() + PENDING_TTL_MS;
    return String(entry.count);
  }

  async release(subscriptionId: string, chatId: string, mark: string | null): Promise<boolean> {
    const key = `${subscriptionId}:${chatId}`;
    const entry = this.live(key);
    if (entry && String(entry.count) !== mark) return false;
    this.pending.delete(key);
    return true;
  }

  async abandon(subscriptionId: string, chatId: string): Promise<void> {
    this.pending.delete(`${subscriptionId}:${chatId}`);
  }

  async notified(subscriptionId: string, chatId: string): Promise<bigint | null> {
    const key = `${subscriptionId}:${chatId}`;
    const entry = this.pushed.get(key);
    if (!entry) return null;
    if (entry.expiresAt > Date.now()) return entry.seq;
    this.pushed.delete(key);
    return null;
  }

  async noteNotified(subscriptionId: string, chatId: string, seq: bigint): Promise<void> {
    const key = `${subscriptionId}:${chatId}`;
    const known = await this.notified(subscriptionId, chatId);
    if (known !== null && known >= seq) return;
    this.pushed.delete(key);
    if (this.pushed.size >= MAX_NOTIFIED_PAIRS) this.pushed.delete(this.pushed.keys().next().value!);
    this.pushed.set(key, { seq, expiresAt: Date.now() + NOTIFIED_TTL_MS });
  }

  /**
   * Drops expired claims, at most once per PENDING_TTL_MS: a delivery that failed for good (its
   * job out of tries) never releases its claim, and nothing else would look at that pair again.
   */
  private sweep(): void {
    const now = Date.now();
    if (now - this.sweptAt < PENDING_TTL_MS) return;
    this.sweptAt = now;
    for (const [key, entry] of this.pending) if (entry.expiresAt <= now) this.pending.delete(key);
  }

  private live(key: string): { count: number; expiresAt: number } | undefined {
    const entry = this.pending.get(key);
    if (entry && entry.expiresAt <= Date.now()) {
      this.pending.delete(key);
      return undefined;
    }
    return entry;
  }
}
