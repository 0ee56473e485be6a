import { randomUUID } from 'node:crypto';
import { RawData, WebSocket } from 'ws';

/** What the client knows about one message it created, whatever became of it. */
export interface SentRecord {
  clientMessageId: string;
  chatId: string;
  /** The device (socket owner) that created and retries it. */
  device: string;
  userId: string;
  createdAt: number;
  /** Frames put on the wire for it (the first send and every retry). */
  attempts: number;
  /** Retries sent after the device reconnected (a subset of attempts). */
  resentAfterReconnect: number;
  ackedAt: number | null;
  ackMessageId: string | null;
  /** The instance whose socket carried the answer. */
  ackInstance: number | null;
  /** `message:new` frames with this clientMessageId on the creating device (more than 1: a retry answered after the first answer came). */
  ackFrames: number;
  /** An answer naming another message id than the first answer did: one clientMessageId, two messages. */
  ackMismatch: boolean;
  /** `message:send:error` codes received for it. */
  errors: Record<string, number>;
  /** A refusal the client does not retry (anything but SERVICE_UNAVAILABLE, RATE_LIMIT, INTERNAL_ERROR). */
  refused: string | null;
}

/** Every message created in a run, by clientMessageId. */
export type Ledger = Map<string, SentRecord>;

/** What a device saw, as the clients process hands it back for counting. */
export interface DeviceReport {
  key: string;
  userId: string;
  /** Live `message:new` frames per message id (not counting this device's own answers). */
  live: Record<string, number>;
  /** Per chat, the `seq` of each first live receipt, in arrival order. */
  order: Record<string, number[]>;
  /** Authenticated periods [from, to, instance]. */
  online: Array<[number, number, number]>;
  closes: Record<string, number>;
  connectFailures: Record<string, number>;
  errorFrames: Record<string, number>;
  logouts: number;
  reconnects: number;
  inversions: Device['inversions'];
}

/** Codes a client retries, after retryAfter when given: the server said "not now", not "never". */
const RETRYABLE = new Set(['SERVICE_UNAVAILABLE', 'RATE_LIMIT', 'INTERNAL_ERROR']);
/** Close codes that log a real client out: under a fault they must never come. */
export const LOGOUT_CODES = new Set([4001, 4003]);
const AUTH_WAIT_MS = 10_000;
/** The longest a client waits before sending an unanswered message again. */
const MAX_RETRY_WAIT_MS = 30_000;
const PING_EVERY_MS = 20_000;

interface Outgoing {
  record: SentRecord;
  text: string;
  /** When the client sends it (again) unless answered first. */
  dueAt: number;
}

export interface DeviceOptions {
  key: string;
  userId: string;
  token: string;
  /** WebSocket URLs of the instances, in the order a load balancer would try them. */
  urls: string[];
  /** The instance of the first connection; each reconnect attempt goes to the next one. */
  home: number;
  ledger: Ledger;
  /** Text prefix that marks this run's messages. */
  mark: string;
  /** An unanswered send is sent again (same clientMessageId) after this long, doubling with each retry. */
  ackTimeoutMs: number;
}

/**
 * One device of a user, behaving as a careful client: an outbox of messages with
 * clientMessageIds, each sent again after `ackTimeoutMs` without its `message:new` (doubling
 * with every retry up to 30 s, so a slow server is not buried in retries), or after the
 * `retryAfter` of a retryable refusal, and all of them at once after a reconnect; a socket that
 * closes is reopened with jittered exponential backoff (250 ms doubling to 4 s), each attempt on
 * the next instance, as behind a load balancer. It records every `message:new` it sees, in order.
 */
export class Device {
  /** Live `message:new` frames per message id (not counting this device's own answers). */
  readonly live = new Map<string, number>();
  /** Per chat, the `seq` of each first live receipt, in arrival order. */
  readonly order = new Map<string, number[]>();
  /** Authenticated periods [from, to, instance]; `to` is Infinity while open. */
  readonly online: Array<[number, number, number]> = [];
  readonly closes: Record<string, number> = {};
  readonly connectFailures: Record<string, number> = {};
  /**
   * Inversions (a live `message:new` with a lower seq than one before it in the same chat), by
   * whose message came late: this user's own (its answer or its copy on the other device) or another member's.
   */
  readonly inversions = { own: 0, others: 0, samples: [] as Array<{ chatId: string; after: number; seq: number; own: boolean; gapMs: number }> };
  private readonly lastSeen = new Map<string, { seq: number; at: number }>();
  /** `error` frames by code (refused frames other than sends). */
  readonly errorFrames: Record<string, number> = {};
  logouts = 0;
  reconnects = 0;

  private readonly outbox = new Map<string, Outgoing>();
  private socket: WebSocket | null = null;
  private instance = 0;
  private authenticated = false;
  private attempt = 0;
  private failures = 0;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private pinger: NodeJS.Timeout | null = null;
  private firstAuth: { resolve: () => void; reject: (e: Error) => void } | null = null;

  constructor(private readonly options: DeviceOptions) {}

  get key(): string {
    return this.options.key;
  }

  get userId(): string {
    return this.options.userId;
  }

  get connected(): boolean {
    return this.authenticated;
  }

  /** Messages created but not answered yet. */
  get pending(): number {
    return this.outbox.size;
  }

  /** Opens the first socket; resolves on its auth:ok. */
  start(): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => (this.firstAuth = { resolve, reject }));
    this.timer = setInterval(() => this.retryDue(), 100);
    this.pinger = setInterval(() => this.authenticated && this.socket?.send('{"event":"presence:ping"}'), PING_EVERY_MS);
    this.open();
    return ready;
  }

  /** Creates a message in `chatId`: sent at once when connected, else on the next connection. */
  create(chatId: string): void {
    const clientMessageId = randomUUID();
    const record: SentRecord = {
      clientMessageId,
      chatId,
      device: this.key,
      userId: this.userId,
      createdAt: Date.now(),
      attempts: 0,
      resentAfterReconnect: 0,
      ackedAt: null,
      ackMessageId: null,
      ackInstance: null,
      ackFrames: 0,
      ackMismatch: false,
      errors: {},
      refused: null,
    };
    this.options.ledger.set(clientMessageId, record);
    const item: Outgoing = { record, text: `${this.options.mark} ${clientMessageId}`, dueAt: 0 };
    this.outbox.set(clientMessageId, item);
    if (this.authenticated) this.transmit(item, false);
  }

  report(): DeviceReport {
    const now = Date.now();
    return {
      key: this.key,
      userId: this.userId,
      live: Object.fromEntries(this.live),
      order: Object.fromEntries(this.order),
      online: this.online.map(([from, to, instance]) => [from, Math.min(to, now), instance]),
      closes: this.closes,
      connectFailures: this.connectFailures,
      errorFrames: this.errorFrames,
      logouts: this.logouts,
      reconnects: this.reconnects,
      inversions: this.inversions,
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.pinger) clearInterval(this.pinger);
    const socket = this.socket;
    if (!socket || socket.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.close(1000);
      setTimeout(() => (socket.terminate(), resolve()), 3_000).unref();
    });
  }

  private open(): void {
    const instance = (this.options.home + this.attempt++) % this.options.urls.length;
    const url = this.options.urls[instance];
    const socket = new WebSocket(url, { headers: { Cookie: `h2v_session=${this.options.token}` }, perMessageDeflate: false, handshakeTimeout: 5_000 });
    this.socket = socket;
    const authTimer = setTimeout(() => {
      if (this.authenticated) return;
      this.noteFailure('no auth:ok within 10 s');
      socket.terminate();
    }, AUTH_WAIT_MS);
    socket.on('message', (data) => {
      this.instance = instance;
      this.onFrame(data);
    });
    socket.on('error', (error) => {
      if (!this.authenticated) this.noteFailure((error as NodeJS.ErrnoException).code ?? error.message);
    });
    socket.on('close', (code) => {
      clearTimeout(authTimer);
      this.closes[code] = (this.closes[code] ?? 0) + 1;
      if (LOGOUT_CODES.has(code)) this.logouts++;
      if (this.authenticated) {
        this.online[this.online.length - 1][1] = Date.now();
        this.authenticated = false;
      } else {
        this.failures++;
      }
      if (this.socket === socket) this.socket = null;
      if (this.stopped) return;
      // A first socket that cannot authenticate is a broken set-up, not a fault under test.
      if (this.firstAuth && this.failures >= 5) return this.firstAuth.reject(new Error(`${this.key}: no auth:ok (${JSON.stringify(this.connectFailures)}, closes ${JSON.stringify(this.closes)})`));
      const backoff = Math.min(250 * 2 ** Math.min(this.failures, 5), 4_000) * (0.5 + Math.random() / 2);
      setTimeout(() => this.stopped || this.open(), backoff).unref();
    });
  }

  private noteFailure(reason: string): void {
    this.connectFailures[reason] = (this.connectFailures[reason] ?? 0) + 1;
  }

  private onFrame(data: RawData): void {
    const { event, payload } = JSON.parse(data.toString()) as { event: string; payload: any };
    switch (event) {
      case 'auth:ok':
        return this.onAuthenticated();
      case 'message:new':
        return this.onMessage(payload);
      case 'message:send:error':
        return this.onSendError(payload);
      case 'error':
        this.errorFrames[payload?.code ?? 'UNKNOWN'] = (this.errorFrames[payload?.code ?? 'UNKNOWN'] ?? 0) + 1;
        return;
      default:
        return;
    }
  }

  private onAuthenticated(): void {
    if (this.authenticated) return;
    this.authenticated = true;
    this.failures = 0;
    this.online.push([Date.now(), Infinity, this.instance]);
    if (this.firstAuth) {
      this.firstAuth.resolve();
      this.firstAuth = null;
    } else {
      this.reconnects++;
      // Everything unanswered goes again, in creation order, as a client does on reconnect.
      for (const item of this.outbox.values()) this.transmit(item, item.record.attempts > 0);
    }
  }

  private onMessage(message: { id: string; chatId: string; seq: number; sender: { id: string } | null; clientMessageId?: string }): void {
    const own = message.clientMessageId ? this.options.ledger.get(message.clientMessageId) : undefined;
    if (own && own.device === this.key) {
      own.ackFrames++;
      if (own.ackMessageId === null) {
        own.ackMessageId = message.id;
        own.ackedAt = Date.now();
        own.ackInstance = this.instance;
        this.outbox.delete(own.clientMessageId);
        // An answer to a retry comes straight to this socket, outside the chat's ordered delivery.
        if (own.attempts === 1) this.noteOrder(message);
      } else if (own.ackMessageId !== message.id) {
        own.ackMismatch = true;
      }
      return;
    }
    const seen = this.live.get(message.id) ?? 0;
    this.live.set(message.id, seen + 1);
    if (seen === 0) this.noteOrder(message);
  }

  private noteOrder(message: { chatId: string; seq: number; sender: { id: string } | null }): void {
    let seqs = this.order.get(message.chatId);
    if (!seqs) this.order.set(message.chatId, (seqs = []));
    seqs.push(message.seq);
    const now = Date.now();
    const last = this.lastSeen.get(message.chatId);
    if (last && message.seq < last.seq) {
      const own = message.sender?.id === this.userId;
      if (own) this.inversions.own++;
      else this.inversions.others++;
      if (this.inversions.samples.filter((x) => x.own === own).length < 3) this.inversions.samples.push({ chatId: message.chatId, after: last.seq, seq: message.seq, own, gapMs: now - last.at });
    }
    this.lastSeen.set(message.chatId, { seq: message.seq, at: now });
  }

  private onSendError(payload: { code?: string; retryAfter?: number; clientMessageId?: string }): void {
    const item = payload.clientMessageId ? this.outbox.get(payload.clientMessageId) : undefined;
    const code = payload.code ?? 'UNKNOWN';
    if (!item) {
      this.errorFrames[`message:send:error ${code}`] = (this.errorFrames[`message:send:error ${code}`] ?? 0) + 1;
      return;
    }
    item.record.errors[code] = (item.record.errors[code] ?? 0) + 1;
    if (!RETRYABLE.has(code)) {
      item.record.refused = code;
      this.outbox.delete(item.record.clientMessageId);
      return;
    }
    item.dueAt = Date.now() + Math.max(1_000, (payload.retryAfter ?? 0) * 1_000);
  }

  private retryDue(): void {
    if (!this.authenticated) return;
    const now = Date.now();
    for (const item of this.outbox.values()) if (item.dueAt <= now) this.transmit(item, false);
  }

  private transmit(item: Outgoing, afterReconnect: boolean): void {
    const socket = this.socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return;
    item.record.attempts++;
    if (afterReconnect) item.record.resentAfterReconnect++;
    item.dueAt = Date.now() + Math.min(this.options.ackTimeoutMs * 2 ** (item.record.attempts - 1), MAX_RETRY_WAIT_MS);
    socket.send(JSON.stringify({ event: 'message:send', payload: { chatId: item.record.chatId, text: item.text, clientMessageId: item.record.clientMessageId } }));
  }
}
