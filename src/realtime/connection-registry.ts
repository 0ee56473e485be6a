import { Injectable } from '@nestjs/common';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { Metrics } from '../core/metrics/metrics';
import type { FrameData } from './chat-ordered-delivery';
import { bodyWithSeq } from './event-log/event-log';
import type { LiveSeqs } from './live-seqs';
import { dropIfBacklogged, MAX_SOCKET_BACKLOG, rawSocketOf, SeqFrames, textFrame } from './ws-frames';

/** At most this many seqs are remembered as delivered early on one connection (see Connection.early). */
export const MAX_EARLY = 256;

const FLUSHED: Promise<void> = Promise.resolve();

/** A frame's bytes go out as a text frame, as JSON frames do. */
const TEXT = { binary: false } as const;

/** Live frames held for a socket while its log is replayed (Connection.held); past it, or past MAX_SOCKET_BACKLOG bytes of them, the socket is dropped. */
const MAX_HELD_FRAMES = 20_000;
/** Bytes of each held list (keyed by the list: a new hold starts from nothing). */
const heldBytes = new WeakMap<HeldFrame[], number>();

/**
 * How long a disconnect is remembered for the sockets that bind after it (see bind): longer than
 * a session's check and a socket's admission can take, and than SESSION_RECHECK_SECONDS' default,
 * which closes what binds later still.
 */
const ENDED_MEMORY_MS = 120_000;

/** A disconnect as remembered for later binds: the close it gave, until when. */
interface Ended {
  code: number;
  reason: string;
  until: number;
}

/** One open socket on this instance. */
export interface Connection {
  readonly id: string;
  readonly socket: WebSocket;
  userId: string | null;
  sessionId: string | null;
  /** The client said it is hidden (`presence:away`): it stops pinging and must not be closed for that. */
  away: boolean;
  lastSeenAt: number;
  /** The user's event-log position read right after authentication (auth:ok's `seq`); null before, or when the log was unreachable. */
  position: number | null;
  /** While a resume replays the log: the live frames that arrive meanwhile, sent after it (null otherwise). */
  held: HeldFrame[] | null;
  /** Live events at or below this seq are not sent: a replay has sent them. */
  replayedUpTo: number;
  /** The highest seq written to the socket (live, replayed, or held and released); absent before the first. See socketPosition. */
  sentUpTo?: number;
  /** Seqs delivered live at or below `position`, or before it was read: a later replay skips them. */
  early: number[];
  /**
   * With the routed bus (InstanceRoutes): the seqs it got live since its position (or since its
   * last catch-up from the log), so that a seq arriving before one it has not got shows the gap at
   * once: another instance's copy of an earlier event can arrive after this instance's own later one.
   * Null before its route here is joined, and without the routed bus.
   */
  liveSeqs: LiveSeqs | null;
  /** Its session ended (or its user went): the server closed it and acts on no frame of it any more, though the client may not have answered the close yet. */
  ended?: boolean;
}

/** A live frame of a logged event, held for a socket while its log is read (Connection.held). */
export interface HeldFrame {
  seq: number | null;
  payload: FrameData;
}

/**
 * Told that a socket's live seqs skip one it has not got (see InstanceRoutes): returns true when
 * it takes the frames (the one that showed the gap, and any held after it), to send them after the
 * missing ones.
 */
export type GapHandler = (connection: Connection, frames: HeldFrame[]) => boolean;

export interface DisconnectTarget {
  userIds?: string[];
  sessionIds?: string[];
}

/** The sockets held by this instance, indexed by user and by session. */
@Injectable()
export class ConnectionRegistry {
  private readonly connections = new Map<string, Connection>();
  private readonly byUser = new Map<string, Set<Connection>>();
  /** TCP sockets written to in this turn: uncorked together once it is over (see deliver). */
  private readonly corked = new Set<Duplex>();
  private uncorked: Promise<void> | null = null;
  private markUncorked: () => void = () => undefined;
  /**
   * The sessions (`s` + id) and users (`u` + id) that disconnects ended lately, in the order they
   * ended: ending is for good (a session never comes back, nor a deleted account).
   */
  private readonly ended = new Map<string, Ended>();
  /** Set by the routed bus (InstanceRoutes): repairs the gaps a socket's live seqs show (see Connection.liveSeqs). */
  onGap: GapHandler | null = null;

  constructor(private readonly metrics: Metrics) {
    metrics.addCollector(() => metrics.socketConnections.set(this.connections.size));
  }

  add(connection: Connection): void {
    this.connections.set(connection.id, connection);
    this.metrics.socketConnects.inc();
  }

  /**
   * Files an authenticated connection under its user; returns false, having closed it as the
   * disconnect did, when its session or user was ended meanwhile: its token was checked before
   * the end, and the disconnect found no socket of it here to close.
   */
  bind(connection: Connection, userId: string, sessionId: string): boolean {
    const ended = this.endedLately(`s${sessionId}`) ?? this.endedLately(`u${userId}`);
    if (ended) {
      connection.ended = true;
      connection.socket.close(ended.code, ended.reason);
      return false;
    }
    connection.userId = userId;
    connection.sessionId = sessionId;
    let set = this.byUser.get(userId);
    if (!set) this.byUser.set(userId, (set = new Set()));
    set.add(connection);
    return true;
  }

  private endedLately(key: string): Ended | null {
    const ended = this.ended.get(key);
    return ended && ended.until > Date.now() ? ended : null;
  }

  remove(connection: Connection): void {
    this.connections.delete(connection.id);
    if (!connection.userId) return;
    const set = this.byUser.get(connection.userId);
    set?.delete(connection);
    if (set?.size === 0) this.byUser.delete(connection.userId);
  }

  all(): IterableIterator<Connection> {
    return this.connections.values();
  }

  ofUser(userId: string): Connection[] {
    return [...(this.byUser.get(userId) ?? [])];
  }

  /** Whether one of these users has an authenticated socket here (a bus record for them is delivered here). */
  holdsAny(userIds: string[]): boolean {
    return userIds.some((userId) => this.byUser.has(userId));
  }

  /** Whether one of these users has an authenticated socket here that is not away: online, whatever the presence store says yet. */
  anyPresent(userIds: string[]): boolean {
    for (const userId of userIds) {
      const sockets = this.byUser.get(userId);
      if (sockets) for (const connection of sockets) if (!connection.away) return true;
    }
    return false;
  }

  get size(): number {
    return this.connections.size;
  }

  /**
   * Sends an already serialised frame body to every local socket of these users (ids unique).
   * With `seqs` (each user's seq, in the order of `userIds`), each user's copy is the body with
   * its seq appended, made once for all of that user's sockets; without, one copy serves all.
   * The WebSocket frame around a copy is made once, on its first socket, and written whole to each.
   * A socket replaying its log holds what arrives meanwhile; one that replayed up to a seq skips
   * live copies at or below it. A socket written to stays corked until the current turn's
   * callbacks and promises have run, so the frames it gets meanwhile (a sender's message:new and
   * message:delivered, the messages of one send batch) leave in one write.
   */
  deliver(userIds: string[], data: FrameData, seqs: Array<number | null> | null = null): number {
    let sent = 0;
    let sharedWire: Buffer | null = null;
    let seqFrames: SeqFrames | null = null;
    const body = typeof data === 'string' ? Buffer.from(data) : data;
    for (let i = 0; i < userIds.length; i++) {
      const sockets = this.byUser.get(userIds[i]);
      if (!sockets) continue;
      const seq = seqs?.[i] ?? null;
      let payload: Buffer | null = null;
      let wire: Buffer | null = null;
      for (const connection of sockets) {
        const socket = connection.socket;
        if (socket.readyState !== socket.OPEN) continue;
        if (seq !== null && seq <= connection.replayedUpTo) continue;
        if (connection.held) {
          // A replay paces itself to its client; one that reads nothing while events keep coming is
          // dropped (it resumes later), as a live socket is past MAX_SOCKET_BACKLOG.
          const frame = (payload ??= seq === null ? body : bodyWithSeq(body, seq));
          const bytes = (heldBytes.get(connection.held) ?? 0) + frame.length;
          if (connection.held.length >= MAX_HELD_FRAMES || bytes > MAX_SOCKET_BACKLOG) socket.terminate();
          else {
            heldBytes.set(connection.held, bytes);
            connection.held.push({ seq, payload: frame });
          }
          continue;
        }
        if (seq !== null && connection.liveSeqs) {
          if (this.onGap && skipsOne(connection, seq) && this.onGap(connection, [{ seq, payload: (payload ??= bodyWithSeq(body, seq)) }])) continue;
          connection.liveSeqs.add(seq);
        }
        if (seq !== null && (connection.position === null || seq <= connection.position) && connection.early.length < MAX_EARLY) connection.early.push(seq);
        const raw = rawSocketOf(socket);
        if (!raw) {
          socket.send((payload ??= seq === null ? body : bodyWithSeq(body, seq)), TEXT);
          noteSent(connection, seq);
          // A client that does not read is dropped, not buffered for without end (a corked socket: when uncorked).
          if (dropIfBacklogged(socket)) continue;
        } else {
          this.cork(raw);
          raw.write(seq !== null ? (wire ??= (seqFrames ??= new SeqFrames(body)).frame(seq)) : (sharedWire ??= textFrame(body)));
          noteSent(connection, seq);
        }
        sent++;
      }
    }
    if (sent) this.metrics.eventsDelivered.inc(sent);
    return sent;
  }

  /** Settles once the frames delivered so far have been handed to their sockets (see deliver). */
  flushed(): Promise<void> {
    return this.uncorked ?? FLUSHED;
  }

  /** Holds what is written to this TCP socket until the current turn's callbacks and promises have run, then writes it at once. */
  cork(raw: Duplex): void {
    if (this.corked.has(raw)) return;
    raw.cork();
    this.corked.add(raw);
    if (this.corked.size === 1) {
      this.uncorked = new Promise((resolve) => (this.markUncorked = resolve));
      process.nextTick(this.uncorkAll);
    }
  }

  private readonly uncorkAll = (): void => {
    for (const raw of this.corked) {
      raw.uncork();
      // What the kernel did not take waits in this process: a client that does not read is dropped past MAX_SOCKET_BACKLOG.
      if (raw.writableLength > MAX_SOCKET_BACKLOG) raw.destroy();
    }
    this.corked.clear();
    this.uncorked = null;
    this.markUncorked();
  };

  /** Closes the target's sockets on this instance; returns how many it held. */
  disconnect(target: DisconnectTarget, code: number, reason: string): number {
    const sessions = new Set(target.sessionIds ?? []);
    const users = new Set(target.userIds ?? []);
    this.remember(sessions, users, code, reason);
    let closed = 0;
    for (const connection of this.connections.values()) {
      if ((connection.sessionId && sessions.has(connection.sessionId)) || (connection.userId && users.has(connection.userId))) {
        connection.ended = true;
        connection.socket.close(code, reason);
        closed++;
      }
    }
    return closed;
  }

  private remember(sessions: Set<string>, users: Set<string>, code: number, reason: string): void {
    const now = Date.now();
    // Oldest first: what has expired is at the front.
    for (const [key, ended] of this.ended) {
      if (ended.until > now) break;
      this.ended.delete(key);
    }
    const ended: Ended = { code, reason, until: now + ENDED_MEMORY_MS };
    for (const key of [...[...sessions].map((id) => `s${id}`), ...[...users].map((id) => `u${id}`)]) {
      this.ended.delete(key);
      this.ended.set(key, ended);
    }
  }
}

/**
 * The socket's position as auth:ok reports it: on the first, the one read at authentication; on
 * a re-sent `auth`, also what the socket got since (live or replayed), so that a client taking
 * it as its position does not resume from the first and get those events twice. Not the log's
 * head: seqs at or below it may still be on their way to this socket. Null while the log is
 * unreachable.
 */
export function socketPosition(connection: Connection): number | null {
  if (connection.position === null) return null;
  return Math.max(connection.position, connection.replayedUpTo, connection.sentUpTo ?? 0);
}

/** Notes a seq written to the socket (see socketPosition). */
export function noteSent(connection: Connection, seq: number | null): void {
  if (seq !== null && seq > (connection.sentUpTo ?? 0)) connection.sentUpTo = seq;
}

/**
 * Whether a socket has not got every seq before `seq`: it has all up to its position (or what a
 * replay sent it), and the seqs it got live since are in `liveSeqs` (a user's seqs are consecutive,
 * and every one of them goes to all of the user's sockets).
 */
export function skipsOne(connection: Connection, seq: number): boolean {
  if (connection.position === null) return false;
  return !connection.liveSeqs!.covers(Math.max(connection.position, connection.replayedUpTo), seq - 1);
}
