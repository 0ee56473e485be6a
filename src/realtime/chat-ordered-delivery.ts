/** Where an event stands in its chat's sequence: `message:new` carries it so delivery keeps chat order. */
export interface ChatPosition {
  chatId: string;
  seq: number;
}

/** One serialised frame and the users it goes to. */
export interface Delivery {
  userIds: string[];
  data: string;
}

type Deliver = (userIds: string[], data: string) => void;

interface Held {
  seq: number;
  /** Every audience of one position (the sender's copy and the members'): delivered as one step. */
  deliveries: Delivery[];
  heldAt: number;
}

interface ChatState {
  /** The highest sequence number delivered (or given up on). */
  delivered: number;
  /** Events that came before an earlier one, sorted by seq. */
  held: Held[];
  timer: NodeJS.Timeout | null;
  usedAt: number;
}

/** How long a later message waits for an earlier one that has not arrived yet. */
export const ORDER_HOLD_MS = 250;
const IDLE_FORGET_MS = 60 * 60_000;

/**
 * Delivers each chat's messages to this instance's sockets in the chat's sequence order.
 * Sends into one chat commit in sequence order (the chat row lock), but their publishes race —
 * within one instance (each send resumes on its own) and between instances (each publishes to
 * the bus itself) — so members would see adjacent messages swapped. A message that arrives
 * ahead of an earlier one waits for it, at most ORDER_HOLD_MS (the earlier one may never come:
 * its instance died, or the bus lost it), and is then delivered anyway. Events without a
 * position pass straight through. A chat first seen mid-stream waits for the message before the
 * first one it sees as for any gap.
 */
export class ChatOrderedDelivery {
  private readonly chats = new Map<string, ChatState>();
  private lastSweep = Date.now();

  constructor(
    private readonly deliver: Deliver,
    private readonly holdMs = ORDER_HOLD_MS,
  ) {}

  /** Delivers (or holds) the audiences of one event; those of one position always go together. */
  push(deliveries: Delivery[], position?: ChatPosition): void {
    if (!position) return this.send(deliveries);
    const now = Date.now();
    this.sweep(now);
    let chat = this.chats.get(position.chatId);
    // A chat first seen here (or forgotten after an idle hour) at seq n: n - 1 may be on its way
    // from another instance, so n waits for it like for any gap; seq 1 has nothing before it.
    if (!chat) this.chats.set(position.chatId, (chat = { delivered: Math.max(0, position.seq - 2), held: [], timer: null, usedAt: now }));
    chat.usedAt = now;
    if (position.seq > chat.delivered + 1) return this.hold(position.chatId, chat, { seq: position.seq, deliveries, heldAt: now });
    this.send(deliveries);
    chat.delivered = Math.max(chat.delivered, position.seq);
    this.release(chat);
  }

  /** Chats with state on this instance (for tests and metrics). */
  get size(): number {
    return this.chats.size;
  }

  /** Delivers everything held at once (shutdown). */
  flush(): void {
    for (const chat of this.chats.values()) {
      if (chat.timer) clearTimeout(chat.timer);
      for (const held of chat.held.splice(0)) this.send(held.deliveries);
    }
    this.chats.clear();
  }

  private send(deliveries: Delivery[]): void {
    for (const { userIds, data } of deliveries) this.deliver(userIds, data);
  }

  private hold(chatId: string, chat: ChatState, event: Held): void {
    let i = chat.held.length;
    while (i > 0 && chat.held[i - 1].seq > event.seq) i--;
    chat.held.splice(i, 0, event);
    chat.timer ??= this.gapTimer(chatId, chat);
  }

  /**
   * Fires when the longest-waiting held event has waited ORDER_HOLD_MS. Every event that has
   * waited that long goes then, with all held before it in the chat: the gaps below it are given
   * up at once. (Giving up one gap per hold would let a chat whose every other message never comes
   * — the bus is down and another instance sends half of them — deliver 4 messages a second.)
   */
  private gapTimer(chatId: string, chat: ChatState): NodeJS.Timeout {
    const oldest = chat.held.reduce((min, h) => Math.min(min, h.heldAt), Infinity);
    const timer = setTimeout(() => {
      chat.timer = null;
      if (this.chats.get(chatId) !== chat || !chat.held.length) return;
      const due = Date.now() - this.holdMs;
      const last = chat.held.reduce((max, h) => (h.heldAt <= due ? Math.max(max, h.seq) : max), -Infinity);
      // The earlier messages are not coming in time: skip their gaps.
      if (last > chat.delivered) chat.delivered = last - 1;
      this.release(chat);
      if (chat.held.length) chat.timer = this.gapTimer(chatId, chat);
    }, Math.max(0, oldest + this.holdMs - Date.now()));
    timer.unref();
    return timer;
  }

  /** Delivers the held events that are next in line. */
  private release(chat: ChatState): void {
    while (chat.held.length && chat.held[0].seq <= chat.delivered + 1) {
      const next = chat.held.shift()!;
      this.send(next.deliveries);
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
