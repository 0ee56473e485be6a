import { randomUUID } from 'node:crypto';
import { WebSocket } from 'ws';

interface Frame {
  event: string;
  payload: any;
}

/** A short-lived socket for the recovery checks: buffers frames so a wait also finds earlier ones. */
class ProbeSocket {
  private readonly frames: Frame[] = [];
  private readonly waiters = new Set<{ match: (f: Frame) => boolean; resolve: (f: Frame) => void }>();
  private closedWith: number | null = null;

  private constructor(private readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      for (const waiter of this.waiters) {
        if (waiter.match(frame)) {
          this.waiters.delete(waiter);
          return waiter.resolve(frame);
        }
      }
      this.frames.push(frame);
    });
    socket.on('error', () => undefined);
    socket.on('close', (code) => (this.closedWith = code));
  }

  /** Opens a socket with the session cookie and waits for its auth:ok. */
  static async open(url: string, token: string, timeoutMs: number): Promise<ProbeSocket> {
    const socket = new WebSocket(url, { headers: { Cookie: `h2v_session=${token}` }, handshakeTimeout: timeoutMs });
    const probe = new ProbeSocket(socket);
    try {
      await probe.waitFor('auth:ok', () => true, timeoutMs);
    } catch (error) {
      probe.close();
      throw error;
    }
    return probe;
  }

  send(event: string, payload: unknown): void {
    this.socket.send(JSON.stringify({ event, payload }));
  }

  waitFor(event: string, predicate: (payload: any) => boolean, timeoutMs: number): Promise<any> {
    const match = (f: Frame) => f.event === event && predicate(f.payload);
    const index = this.frames.findIndex(match);
    if (index >= 0) return Promise.resolve(this.frames.splice(index, 1)[0].payload);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (f: Frame) => {
          clearTimeout(timer);
          resolve(f.payload);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const closed = this.closedWith !== null ? `, socket closed ${this.closedWith}` : '';
        reject(new Error(`no ${event} within ${timeoutMs} ms${closed}; got ${this.frames.map((f) => (f.event === 'error' ? `error ${f.payload?.code}` : f.event)).join(', ') || 'nothing'}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  close(): void {
    this.socket.terminate();
  }
}

export interface ProbeUser {
  id: string;
  token: string;
}

/**
 * Users of the recovery checks: `a` and `b` share the direct chat `chatAB`; each of `fresh`
 * shares a direct chat with `b` and has never connected (its first socket makes it come online).
 */
export interface RecoveryUsers {
  a: ProbeUser;
  b: ProbeUser;
  chatAB: string;
  fresh: ProbeUser[];
}

export interface CheckOutcome {
  /** Seconds from the end of the fault until the check first passed; null if it never did. */
  passedAfter: number | null;
  attempts: number;
  /** Why the last failed attempt failed. */
  lastFailure: string | null;
}

export interface Recovery {
  /** A new socket gets auth:ok on every instance. */
  newSockets: CheckOutcome;
  /** A message sent on one instance reaches the recipient's socket on the other, both ways. */
  crossInstance: CheckOutcome;
  /** A user coming online on one instance and going offline is seen from the other instance. */
  presence: CheckOutcome;
}

const STEP_MS = 5_000;

/**
 * Runs the three checks from `since` (the end of the fault) until each passes or `deadlineMs`
 * passes, one attempt a second, each attempt on new sockets.
 */
export async function checkRecovery(wsUrls: string[], users: RecoveryUsers, since: number, deadlineMs: number): Promise<Recovery> {
  const deadline = since + deadlineMs;
  let freshIndex = 0;
  const newSockets = await until(since, deadline, async () => {
    for (const url of wsUrls) (await ProbeSocket.open(url, users.a.token, STEP_MS)).close();
  });
  const crossInstance = await until(since, deadline, async () => {
    const [one, two] = [wsUrls[0], wsUrls[wsUrls.length - 1]];
    const a = await ProbeSocket.open(one, users.a.token, STEP_MS);
    try {
      const b = await ProbeSocket.open(two, users.b.token, STEP_MS);
      try {
        await crossOnce(a, b, users.chatAB, 'a → b');
        await crossOnce(b, a, users.chatAB, 'b → a');
      } finally {
        b.close();
      }
    } finally {
      a.close();
    }
  });
  const presence = await until(since, deadline, async () => {
    // Each attempt takes a user who has never been online: a lease left by a failed attempt
    // would otherwise make the next connection not the first, with no user:online to see.
    const fresh = users.fresh[Math.min(freshIndex++, users.fresh.length - 1)];
    const watcher = await ProbeSocket.open(wsUrls[wsUrls.length - 1], users.b.token, STEP_MS);
    try {
      const comer = await ProbeSocket.open(wsUrls[0], fresh.token, STEP_MS);
      try {
        await watcher.waitFor('user:online', (p) => p?.userId === fresh.id, STEP_MS);
      } finally {
        comer.close();
      }
      await watcher.waitFor('user:offline', (p) => p?.userId === fresh.id, STEP_MS);
    } finally {
      watcher.close();
    }
  });
  return { newSockets, crossInstance, presence };
}

async function crossOnce(from: ProbeSocket, to: ProbeSocket, chatId: string, label: string): Promise<void> {
  const clientMessageId = randomUUID();
  const text = `recovery ${clientMessageId}`;
  from.send('message:send', { chatId, text, clientMessageId });
  try {
    await to.waitFor('message:new', (p) => p?.text === text, STEP_MS);
  } catch (error) {
    throw new Error(`${label}: ${(error as Error).message}`);
  }
}

async function until(since: number, deadline: number, attempt: () => Promise<void>): Promise<CheckOutcome> {
  const outcome: CheckOutcome = { passedAfter: null, attempts: 0, lastFailure: null };
  while (Date.now() < deadline) {
    outcome.attempts++;
    try {
      await attempt();
      outcome.passedAfter = Math.round((Date.now() - since) / 100) / 10;
      return outcome;
    } catch (error) {
      outcome.lastFailure = (error as Error).message;
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }
  return outcome;
}
