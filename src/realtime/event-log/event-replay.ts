import { Injectable } from '@nestjs/common';
import { ERROR_CODES } from '../../core/errors/error-codes';
import { Connection, GapHandler, HeldFrame, MAX_EARLY, noteSent, skipsOne } from '../connection-registry';
import { bodyWithSeq, EventLog, LogRead } from './event-log';
import { LiveSeqs } from '../live-seqs';
import { drained } from '../ws-frames';

/** Events read from the log per round trip of a replay. */
const REPLAY_PAGE = 500;
/** A replay writes its next event once the socket's unread backlog is below this... */
const REPLAY_BACKLOG = 1024 * 1024;
/** ...and drops a socket whose client read nothing for this long. */
const REPLAY_STALL_MS = 30_000;
const TEXT = { binary: false } as const;

/**
 * Resume on a socket: `auth {lastSeq}` (with the token, or alone on a cookie socket) asks for
 * every event of the user after lastSeq, then live ones, with no gap and no duplicate at the seam.
 *
 * The socket is authenticated and bound before its position P is read (so every event above P
 * reaches it live), and P is what auth:ok told the client. A resume replays (lastSeq, P] from the
 * log while the registry holds the live events arriving meanwhile; then the held ones go out,
 * and from then on live copies at or below P are dropped (a slow publisher's copy of an event the
 * replay sent). Seq allocation and append are one atomic step, so every seq up to P is in the
 * log unless trimmed: then `resync:required` goes instead. Only the authenticated user's log is
 * read: a lastSeq of another user's stream cannot show anything of theirs, and one above the
 * user's latest seq is refused with INVALID_SEQ.
 */
@Injectable()
export class EventReplay {
  /** Set by the routed bus (InstanceRoutes), as on the registry: a socket's held frames may skip seqs too. */
  onGap: GapHandler | null = null;
  /** Each socket's replays, one after another (see exclusive); the count of those queued or running. */
  private readonly turns = new WeakMap<Connection, { tail: Promise<unknown>; pending: number }>();
  /** Held lists a gap repair made (holdForRepair): released by the repair's own turn, never by a replay before it. */
  private readonly repairs = new WeakSet<HeldFrame[]>();
  /**
   * The seqs each socket's replays covered (sent, or skipped as got live): a later replay skips
   * those, and only those. A resume from further back than an earlier replay began (a client's
   * `auth {lastSeq}` after a settle catch-up) still gets what came before it.
   */
  private readonly replayed = new WeakMap<Connection, LiveSeqs>();

  constructor(private readonly log: EventLog) {}

  /**
   * Runs `work` once every replay on the socket queued before it is over. Two at once (a client's
   * resume during a gap repair or a settle catch-up of the routed bus) would interleave their
   * writes: seqs sent twice, and older ones after newer. Queued at the call, so what is asked
   * later waits for it.
   */
  exclusive<T>(connection: Connection, work: () => Promise<T>): Promise<T> {
    let turn = this.turns.get(connection);
    if (!turn) this.turns.set(connection, (turn = { tail: Promise.resolve(), pending: 0 }));
    const mine = turn;
    mine.pending++;
    const run = mine.tail.then(work);
    const done = () => {
      if (--mine.pending === 0 && this.turns.get(connection) === mine) this.turns.delete(connection);
    };
    mine.tail = run.then(done, done);
    return run;
  }

  /** Holds `frames` (and the live ones after them) for a gap repair, which replays what is missing in its turn and then releases them. */
  holdForRepair(connection: Connection, frames: HeldFrame[]): void {
    this.repairs.add(frames);
    connection.held = frames;
  }

  /** Reads the position of a socket just bound to its user (before auth:ok, which reports it). */
  async locate(connection: Connection): Promise<void> {
    connection.position = await this.log.position(connection.userId!);
  }

  /** Holds the live events of a socket that is going to resume, from before it is bound. */
  hold(connection: Connection): void {
    connection.held ??= [];
  }

  /** Replays (lastSeq, position] to the socket, in its turn (see exclusive). */
  resume(connection: Connection, lastSeq: number): Promise<void> {
    return this.exclusive(connection, () => this.replayNow(connection, lastSeq));
  }

  /**
   * Replays (lastSeq, position] to the socket, for a caller already in the socket's turn
   * (exclusive). `read`, when the caller already read the log from lastSeq up to the socket's
   * position (a gap repair), is used as the first page instead of reading it again.
   */
  async replayNow(connection: Connection, lastSeq: number, read: LogRead | null = null): Promise<void> {
    this.hold(connection);
    // A gap repair's held frames wait for the repair's turn, which comes next: it sends what is missing before them.
    const forRepair = this.repairs.has(connection.held!);
    let position: number | null = null;
    // What this replay covered: all up to its position once it has run to its end (or found nothing
    // to send); else only as far as it wrote, so that a resume asked again after a failure sends the rest.
    let covered = connection.replayedUpTo;
    // What this replay went through itself, in order (sent, or skipped as already there): (lastSeq, reached].
    let reached = lastSeq;
    let finished = false;
    try {
      // The log was unreachable when the socket was bound: its position is read now, the seqs it
      // got live meanwhile being in `early` (unless there were more than it keeps).
      if (connection.position === null && connection.early.length < MAX_EARLY) connection.position = await this.log.position(connection.userId!);
      position = connection.position;
      if (position === null) return this.refuse(connection, 'SERVICE_UNAVAILABLE');
      if (lastSeq > position) {
        // Newer than auth:ok's position: fine if the socket got it live since; else not this user's.
        const current = await this.log.position(connection.userId!);
        if (current === null) return this.refuse(connection, 'SERVICE_UNAVAILABLE');
        if (lastSeq > current) return this.refuse(connection, 'INVALID_SEQ');
        return void (finished = true);
      }
      const early = new Set(connection.early);
      const replayed = this.replayed.get(connection);
      let after = lastSeq;
      while (after < position) {
        read ??= await this.log.read(connection.userId!, after, REPLAY_PAGE, position);
        if (!read) return this.refuse(connection, 'SERVICE_UNAVAILABLE');
        if (read.kind === 'future') return this.refuse(connection, 'INVALID_SEQ');
        if (read.kind === 'resync') {
          finished = true;
          return this.send(connection, 'resync:required', { fromSeq: position });
        }
        for (const { seq, body } of read.events) {
          // Got live, or sent by an earlier replay on this socket (a settle check after a gap repair).
          if (early.has(seq) || replayed?.covers(seq - 1, seq)) {
            reached = seq;
            continue;
          }
          // At the pace the client reads: a log of large events is not copied into memory at once.
          if (!(await drained(connection.socket, REPLAY_BACKLOG, REPLAY_STALL_MS))) return void connection.socket.terminate();
          this.write(connection, bodyWithSeq(body, seq), seq);
          covered = seq;
          reached = seq;
        }
        if (!read.hasMore || !read.events.length) break;
        after = read.events[read.events.length - 1].seq;
        read = null;
      }
      finished = true;
    } finally {
      if (finished && position !== null) {
        covered = position;
        reached = Math.max(reached, position);
      }
      if (reached > lastSeq) {
        let ranges = this.replayed.get(connection);
        if (!ranges) this.replayed.set(connection, (ranges = new LiveSeqs()));
        ranges.addRange(lastSeq, reached);
      }
      connection.replayedUpTo = Math.max(connection.replayedUpTo, covered);
      if (!forRepair) this.release(connection);
    }
  }

  /**
   * Sends the live frames held for the socket (none replayed up to replayedUpTo) and stops holding.
   * They go as live deliveries do (ConnectionRegistry.deliver): a frame whose seq skips one the
   * socket has not got (a stale route kept it from here while the log was read, or another
   * instance's copy is late) is handed, with those after it, to the gap repair, which sends the
   * missing seqs first.
   */
  release(connection: Connection): void {
    const held = connection.held ?? [];
    connection.held = null;
    for (let i = 0; i < held.length; i++) {
      const { seq, payload } = held[i];
      if (seq !== null && seq <= connection.replayedUpTo) continue;
      if (seq !== null && connection.liveSeqs && this.onGap && skipsOne(connection, seq) && this.onGap(connection, held.slice(i))) return;
      this.write(connection, payload, seq);
      // Counted like the live seqs it got straight away (InstanceRoutes).
      if (seq !== null) connection.liveSeqs?.add(seq);
      // One at or below the position went out live (a replay that stopped early did not send it):
      // remembered as ConnectionRegistry.deliver does, so a later replay does not send it again.
      if (seq !== null && connection.position !== null && seq <= connection.position && connection.early.length < MAX_EARLY) connection.early.push(seq);
    }
  }

  private refuse(connection: Connection, code: 'INVALID_SEQ' | 'SERVICE_UNAVAILABLE'): void {
    this.send(connection, 'error', { code, message: ERROR_CODES[code].message });
  }

  private send(connection: Connection, event: string, payload: unknown): void {
    this.write(connection, JSON.stringify({ event, payload }));
  }

  /** A replay paces its writes (drained); what it writes is not checked against MAX_SOCKET_BACKLOG. `seq`: the event's, if it has one. */
  private write(connection: Connection, data: Buffer | string, seq: number | null = null): void {
    if (connection.socket.readyState !== connection.socket.OPEN) return;
    connection.socket.send(data, TEXT);
    noteSent(connection, seq);
  }
}
