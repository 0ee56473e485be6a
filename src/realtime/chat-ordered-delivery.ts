/** Where an event stands in its chat's sequence: `message:new` carries it so delivery keeps chat order. */
export interface ChatPosition {
  chatId: string;
  seq: number;
}

/**
 * A serialised frame: UTF-8 bytes made once per audience and written as they are to every
 * socket (a string would be measured and encoded again for each one).
 */
export type FrameData = Buffer | string;

/** One serialised frame and the users it goes to. */
export interface Delivery {
  userIds: string[];
  data: FrameData;
}

interface Held<T> {
  seq: number;
  /** Every audience of one position (the sender's copy and the members'): released as one step. */
  event: T;
  heldAt: number;
}

interface ChatState<T> {
  /** The highest sequence number delivered (or given up on). */
  delivered: number;
  /** Events that came before an earlier one, sorted by seq. */
  held: Array<Held<T>>;
  timer: NodeJS.Timeout | null;
  usedAt: number;
  /** When `delivered` last moved because an event came (not because a gap was given up). */
  progressAt: number;
}

/**
 * How long a later message waits for an earlier one that has not arrived yet, counted from the
 * chat's last progress. The wait sits before the append (OutboundEvents), where the earlier
 * message of this instance may still be on its way through its own publication (a direct chat's
 * first message publishes chat:new first, each a round trip to the event log).
 */
export const ORDER_HOLD_MS = 500;
const IDLE_FORGET_MS = 60 * 60_000;
/** How often a chat with held events looks at the clock (see gapTimer). */
const LOOK_MS = 50;

/**
 * Delivers each chat's messages to this instance's sockets in the chat's sequence order.
 * Sends into one chat commit in sequence order (the chat row lock), but their publishes race —
 * within one instance (each send resumes on its own) and between instances (each publishes to
 * the bus itself) — so members would see adjacent messages swapped. A message that arrives
 * ahead of an earlier one waits for it, at most ORDER_HOLD_MS (the earlier one may never come:
 * its instance died, or the bus lost it), and is then delivered anyway. The hold counts this
 * process's responsive time: a stall of its own event loop does not use it up. Events without a
 * position pass straight through. A chat first seen mid-stream waits for the message before the
 * first one it sees as for any gap.
 *
 * The events are whatever the caller releases in order: the publishers put an event through here
 * before it is appended to the recipients' event logs, so each user's log (and seq) follows the
 * chat's order too (OutboundEvents).
 */
export class ChatOrderedDelivery<T = Delivery[]> {
  private readonly chats = new Map<string, ChatState<T>>();
  private lastSweep = Date.now();

  constructor(
    private readonly release: (event: T) => void,
    private readonly holdMs = ORDER_HOLD_MS,
  ) {}

  /** Releases (or holds) one event: all its audiences of one position always go together. */
  push(event: T, position?: ChatPosition): void {
    if (!position) return this.release(event);
    const now = Date.now();
    this.sweep(now);
    let chat = this.chats.get(position.chatId);
    // A chat first seen here (or forgotten after an idle hour) at seq n: n - 1 may be on its way
    // from another instance, so n waits for it like for any gap; seq 1 has nothing before it.
    if (!chat) this.chats.set(position.chatId, (chat = { delivered: Math.max(0, position.seq - 2), held: [], timer: null, usedAt: now, progressAt: now }));
    chat.usedAt = now;
    if (position.seq > chat.delivered + 1) return this.hold(position.chatId, chat, { seq: position.seq, event, heldAt: now });
    this.release(event);
    chat.delivered = Math.max(chat.delivered, position.seq);
    chat.progressAt = now;
    this.releaseNext(chat);
  }

  /**
   * Records that a chat's event went by in order without passing through here (it was ordered
   * where it was published): the events waiting for it are released.
   */
  advance(position: ChatPosition): void {
    const now = Date.now();
    this.sweep(now);
    const chat = this.chats.get(position.chatId);
    if (!chat) {
      this.chats.set(position.chatId, { delivered: position.seq, held: [], timer: null, usedAt: now, progressAt: now });
      return;
    }
    chat.usedAt = now;
    chat.delivered = Math.max(chat.delivered, position.seq);
    chat.progressAt = now;
    this.releaseNext(chat);
  }

  /** Chats with state on this instance (for tests and metrics). */
  get size(): number {
    return this.chats.size;
  }

  /** Delivers everything held at once (shutdown). */
  flush(): void {
    for (const chat of this.chats.values()) {
      if (chat.timer) clearTimeout(chat.timer);
      for (const held of chat.held.splice(0)) this.release(held.event);
    }
    this.chats.clear();
  }

  private hold(chatId: string, chat: ChatState<T>, event: Held<T>): void {
    let i = chat.held.length;
    while (i > 0 && chat.held[i - 1].seq > event.seq) i--;
    chat.held.splice(i, 0, event);
    chat.timer ??= this.gapTimer(chatId, chat);
  }

  /**
   * Fires when the longest-waiting held event has waited ORDER_HOLD_MS and the chat has not moved
   * on for as long. Every event that has waited that long goes then, with all held before it in
   * the chat: the gaps below it are given up at once. (Giving up one gap per hold would let a
   * chat whose every other message never comes — the bus is down and another instance sends half
   * of them — deliver 4 messages a second.) While earlier events keep coming the wait goes on: a
   * burst whose senders publish from several instances passes from one to the other event by
   * event (each appends in the chat's turn), which may take longer than the hold in all.
   */
  private gapTimer(chatId: string, chat: ChatState<T>): NodeJS.Timeout {
    const oldest = chat.held.reduce((min, h) => Math.min(min, h.heldAt), Infinity);
    // Looks at least every LOOK_MS: a look that comes late measures a stall of this process's
    // own loop, which is not counted against the hold (the missing event may be sitting unread
    // in a socket, or not yet sent by a publisher that could not run either).
    const step = Math.min(LOOK_MS, Math.max(0, Math.max(oldest, chat.progressAt) + this.holdMs - Date.now()));
    const lookAt = Date.now() + step;
    const timer = setTimeout(() => {
      chat.timer = null;
      if (this.chats.get(chatId) !== chat || !chat.held.length) return;
      const stalled = Date.now() - lookAt;
      if (stalled > 0) {
        chat.progressAt += stalled;
        for (const held of chat.held) held.heldAt += stalled;
      }
      if (chat.progressAt + this.holdMs > Date.now()) {
        chat.timer = this.gapTimer(chatId, chat);
        return;
      }
      const due = Date.now() - this.holdMs;
      const last = chat.held.reduce((max, h) => (h.heldAt <= due ? Math.max(max, h.seq) : max), -Infinity);
      // The earlier messages are not coming in time: skip their gaps.
      if (last > chat.delivered) chat.delivered = last - 1;
      this.releaseNext(chat);
      if (chat.held.length) chat.timer = this.gapTimer(chatId, chat);
    }, step);
    timer.unref();
    return timer;
  }

  /** Releases the held events that are next in line. */
  private releaseNext(chat: ChatState<T>): void {
    while (chat.held.length && chat.held[0].seq <= chat.delivered + 1) {
      const next = chat.held.shift()!;
      this.release(next.event);
      chat.delivered = Math.max(chat.delivered, next.seq);
    }
    if (!chat.held.length && chat.timer) {
      clearTimeout(chat.timer);
      chat.timer = null;
    }
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < IDLE_FORGET_MS) return;
    this.lastSweep = now;
    for (const [chatId, chat] of this.chats) {
      if (!chat.held.length && now - chat.usedAt > IDLE_FORGET_MS) this.chats.delete(chatId);
    }
  }
}
