import WebSocket from 'ws';

export interface WsConnectOptions {
  cookie?: string;
  headers?: Record<string, string>;
}

export interface Frame {
  event: string;
  payload: any;
  /** The user's position after this event (every logged event carries one). */
  seq?: number;
}

/**
 * A real `ws` client. Every frame is buffered, so `waitFor` also finds an event that arrived
 * before it was called; each frame is handed out once.
 */
export class WsClient {
  readonly frames: Frame[] = [];
  /** Every frame in arrival order, whether or not a waiter took it. */
  readonly received: Frame[] = [];
  private readonly waiters = new Set<{ match: (f: Frame) => boolean; resolve: (f: Frame) => void }>();
  readonly closed: Promise<{ code: number; reason: string }>;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      this.received.push(frame);
      for (const waiter of this.waiters) {
        if (waiter.match(frame)) {
          this.waiters.delete(waiter);
          return waiter.resolve(frame);
        }
      }
      this.frames.push(frame);
    });
    this.closed = new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  }

  /** Opens a socket; `cookie` authenticates on the upgrade like the web client does; `headers` go on the upgrade too. */
  static async connect(url: string, options: WsConnectOptions = {}): Promise<WsClient> {
    const socket = new WebSocket(url, { headers: { ...options.headers, ...(options.cookie ? { Cookie: options.cookie } : {}) } });
    const client = new WsClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    return client;
  }

  send(event: string, payload?: unknown): void {
    this.socket.send(JSON.stringify(payload === undefined ? { event } : { event, payload }));
  }

  sendRaw(data: string | Buffer): void {
    this.socket.send(data);
  }

  waitFor(event: string, predicate: (payload: any) => boolean = () => true, timeoutMs = 5000): Promise<any> {
    return this.waitForFrame((f) => f.event === event && predicate(f.payload), `'${event}'`, timeoutMs).then((f) => f.payload);
  }

  /** The first frame (buffered or arriving) that `match` accepts; `what` names it in the timeout error. */
  waitForFrame(match: (f: Frame) => boolean, what: string, timeoutMs = 5000): Promise<Frame> {
    const index = this.frames.findIndex(match);
    if (index >= 0) return Promise.resolve(this.frames.splice(index, 1)[0]);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (f: Frame) => {
          clearTimeout(timer);
          resolve(f);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`no ${what} within ${timeoutMs} ms; got: ${this.frames.map((f) => f.event).join(', ') || 'nothing'}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /** The frames with a seq received so far, in arrival order. */
  logged(): Frame[] {
    return this.received.filter((f) => f.seq !== undefined);
  }

  /** The highest seq received so far (what a device resumes from), else `fallback`. */
  lastSeq(fallback: number): number {
    return this.logged().reduce((max, f) => Math.max(max, f.seq!), fallback);
  }

  /** Asserts that no matching event arrives within `ms`. */
  async expectNo(event: string, predicate: (payload: any) => boolean = () => true, ms = 400): Promise<void> {
    try {
      const payload = await this.waitFor(event, predicate, ms);
      throw new Error(`unexpected '${event}': ${JSON.stringify(payload)}`);
    } catch (error) {
      if ((error as Error).message.startsWith('unexpected')) throw error;
    }
  }

  close(): void {
    this.socket.close();
  }
}
