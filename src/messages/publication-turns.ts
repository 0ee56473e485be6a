import { RESPONSIVE_STEP_MS } from '../core/async/with-timeout';

/**
 * How long a message waits for the chat's message before it to be published: that one may be
 * held by its own socket's earlier frames; past this, order gives way rather than liveness.
 * Counted in this process's responsive time (see afterResponsive).
 */
export const PUBLISH_TURN_MS = 1_000;

const RESOLVED: Promise<void> = Promise.resolve();

/** A message's place in its chat's publication order. */
export interface PublicationTurn {
  /** Settles once the chat's message before this one (given a turn here) has been published, or after PUBLISH_TURN_MS. */
  readonly previousPublished: Promise<void>;
  /** This one has been handed to the publisher (or will not be): the chat's next message may go. */
  published(): void;
}

/** A turn given out and not published yet; `next` is the chat's following message, waiting for it. */
interface Turn {
  chatId: string;
  done: boolean;
  next: Waiter | null;
}

interface Waiter {
  go: () => void;
  /** The responsive clock when it began to wait. */
  since: number;
}

/**
 * Each chat's publication turns on this instance, handed out in the order its messages were
 * numbered (SendBatcher). A message waits for the previous one's `published()`, at most
 * PUBLISH_TURN_MS of responsive time: a stall of this process's own event loop (a GC pause, a
 * starved CPU) counts one step, not its whole length, so a busy instance does not give up on
 * order that is only late. One sweep bounds every waiting message (a timer per message cost
 * more than the turns themselves on the send path: issue 17); it runs only while one waits,
 * every RESPONSIVE_STEP_MS, and one look credits at most that step (afterResponsive's rule).
 */
export class PublicationTurns {
  /** Per chat, its last turn not published yet. */
  private readonly last = new Map<string, Turn>();
  /** Messages waiting for the one before them, oldest first. */
  private readonly waiting = new Set<Waiter>();
  /** Milliseconds of responsive time counted so far (moves only while a message waits). */
  private clock = 0;
  private lookedAt = 0;
  private timer: NodeJS.Timeout | null = null;

  /** The next turn of the chat. */
  take(chatId: string): PublicationTurn {
    const before = this.last.get(chatId);
    const turn: Turn = { chatId, done: false, next: null };
    this.last.set(chatId, turn);
    const previousPublished = before ? new Promise<void>((go) => this.wait(before, go)) : RESOLVED;
    return { previousPublished, published: () => this.publish(turn) };
  }

  /** Turns still waiting for the message before them (for tests). */
  get pending(): number {
    return this.waiting.size;
  }

  private wait(before: Turn, go: () => void): void {
    if (!this.timer) {
      this.lookedAt = Date.now();
      this.timer = setTimeout(this.look, RESPONSIVE_STEP_MS).unref();
    }
    const waiter: Waiter = { go, since: this.clock + Math.min(Date.now() - this.lookedAt, RESPONSIVE_STEP_MS) };
    before.next = waiter;
    this.waiting.add(waiter);
  }

  private publish(turn: Turn): void {
    if (turn.done) return;
    turn.done = true;
    if (this.last.get(turn.chatId) === turn) this.last.delete(turn.chatId);
    const next = turn.next;
    if (next && this.waiting.delete(next)) next.go();
  }

  private readonly look = (): void => {
    const now = Date.now();
    this.clock += Math.min(now - this.lookedAt, RESPONSIVE_STEP_MS);
    this.lookedAt = now;
    const expired: Waiter[] = [];
    for (const waiter of this.waiting) {
      if (this.clock - waiter.since < PUBLISH_TURN_MS) break;
      this.waiting.delete(waiter);
      expired.push(waiter);
    }
    // After the loop's poll phase: an answer that came during a stall is read before giving up.
    if (expired.length) setImmediate(() => expired.forEach((waiter) => waiter.go()));
    this.timer = this.waiting.size ? setTimeout(this.look, RESPONSIVE_STEP_MS).unref() : null;
  };
}
