import { Logger } from '@nestjs/common';
import { MAX_EARLY, type Connection, type ConnectionRegistry, type HeldFrame } from '../connection-registry';
import type { EventLog, LogRead } from '../event-log/event-log';
import type { EventReplay } from '../event-log/event-replay';
import { CloseCode } from '../client-events';
import { LiveSeqs } from '../live-seqs';
import { ROUTE_RENEW_MS, RouteTable } from './route-table';

/** How often a route whose write went unanswered is written again. */
const REJOIN_MS = 1_000;
/** The most missing events a gap repair sends (more is left to the settle check). */
const REPAIR_LIMIT = 500;
/**
 * Share of the settle time a settle check waits for seqs still on their way: the position it
 * reads counts events whose append has been answered in Redis but whose frames have not reached
 * this socket yet (this instance's batch in flight, another instance's publish). Without the wait
 * every busy socket replayed at its settle check what was about to arrive anyway, from its
 * auth:ok position (a group member getting 500 messages a second: over 2,000 events, past the
 * log's default cap, so `resync:required`).
 */
const IN_FLIGHT_SHARE = 1 / 4;
/** How often that wait looks. */
const IN_FLIGHT_LOOK_MS = 10;

/** A user's route here: written (or being written) to the table, since when, and the sockets still settling. */
interface Route {
  joined: Promise<void>;
  since: number;
  settling: Set<Connection>;
  timer: NodeJS.Timeout | null;
}

/**
 * This instance's side of the route table: which users it holds sockets of. The first socket of
 * a user here adds the route (awaited before the socket's position is read) and announces it, so
 * publishers drop their cached routes of that user; the last one to close removes it; a timer
 * renews them all.
 *
 * Every socket's seqs go out in order. From bind on, the seqs a socket gets live are noted
 * (Connection.liveSeqs); when a later seq arrives while one before it has not, that frame and
 * what follows are held, the missing ones read from the log and sent first (`repair`), so a device
 * that drops at any moment resumes from its last seq with nothing missing below it. Gaps come
 * from two places. Another instance's copy of an event can arrive after this instance's own
 * copy of a later one: their appends took the user's seqs in one order, and the local copy does
 * not cross the bus. And a publisher that read the user's routes before the arrival may still
 * send by that entry for up to `settleMs` (its cache ttl, plus a margin) and miss this instance.
 * For the second, every socket that binds within `settleMs` of its route's creation also settles:
 * when `settleMs` has passed since the route was made, if its live seqs do not cover every seq
 * from auth:ok's position to the user's current one, it is caught up from the event log with
 * what it did not get, like a resume from that position (EventReplay). Nothing logged is lost;
 * an ephemeral event (typing, presence) sent in that window by a stale entry is. A gap the log
 * cannot fill at once (an append still landing elsewhere, an event whose append failed) is left
 * to the settle check while one is due, and otherwise let be: its frames go out as they are.
 */
export class InstanceRoutes {
  private readonly logger = new Logger('RealtimeBus');
  private readonly routes = new Map<string, Route>();
  /** Removals not answered yet: a new route of the user is written after them, not overwritten by them. */
  private readonly leaving = new Map<string, Promise<void>>();
  private renewer: NodeJS.Timeout | null = null;
  /** Shut down: route writes not answered are not tried again (rejoin). */
  private stopped = false;
  /**
   * Sockets being caught up from the log (settle check or gap repair), with how many catch-ups
   * each has going: a repair declines while any is, and each one ends only its own.
   */
  private readonly catching = new WeakMap<Connection, number>();

  constructor(
    private readonly table: RouteTable,
    private readonly registry: ConnectionRegistry,
    private readonly log: EventLog,
    private readonly replay: EventReplay,
    private readonly settleMs: number,
    /** Tells the other instances that the user now has a socket here. */
    private readonly announce: (userId: string) => void,
  ) {
    registry.onGap = replay.onGap = (connection, frames) => this.repair(connection, frames);
  }

  start(): void {
    this.renewer = setInterval(() => void this.renew(), ROUTE_RENEW_MS);
    this.renewer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.renewer) clearInterval(this.renewer);
    for (const route of this.routes.values()) if (route.timer) clearTimeout(route.timer);
  }

  /** Whether this instance holds a route to the user (a socket of theirs is bound here). */
  has(userId: string): boolean {
    return this.routes.has(userId);
  }

  /** A socket was just bound to its user: resolves once the route is in the table (or Redis did not answer). */
  attach(connection: Connection): Promise<void> {
    const userId = connection.userId!;
    let route = this.routes.get(userId);
    if (!route) {
      const since = Date.now();
      const made: Route = { since, settling: new Set(), timer: null, joined: Promise.resolve() };
      made.joined = (this.leaving.get(userId) ?? Promise.resolve())
        .then(() => this.table.join(userId))
        .then((written) => (written ? this.announce(userId) : void this.rejoin(userId, made)));
      route = made;
      this.routes.set(userId, route);
    }
    connection.liveSeqs ??= new LiveSeqs();
    if (Date.now() - route.since < this.settleMs) {
      route.settling.add(connection);
      route.timer ??= setTimeout(() => void this.settle(userId), route.since + this.settleMs - Date.now()).unref();
    }
    return route.joined;
  }

  /**
   * The route's write was not answered (Redis slow or away): the socket goes on (it was told
   * auth:ok), and the write is tried again every REJOIN_MS while the route is held. Until it lands,
   * other instances publishing to the user do not send here, so once it has, the user's sockets
   * here are closed with 1012 to resume what they may have missed from the log.
   */
  private async rejoin(userId: string, route: Route): Promise<void> {
    for (;;) {
      await new Promise((resolve) => setTimeout(resolve, REJOIN_MS).unref());
      if (this.stopped || this.routes.get(userId) !== route) return;
      if (await this.table.join(userId)) break;
    }
    if (this.routes.get(userId) !== route) return;
    this.announce(userId);
    this.logger.warn(`route of a user written late: their ${this.registry.ofUser(userId).length} socket(s) here closed to resume`);
    for (const connection of this.registry.ofUser(userId)) connection.socket.close(CloseCode.ServiceRestart, 'events may have been missed: reconnect and resume');
  }

  /** A socket closed: the user's last one here removes the route. */
  detach(connection: Connection): void {
    const userId = connection.userId;
    if (!userId) return;
    const route = this.routes.get(userId);
    route?.settling.delete(connection);
    if (!route || this.registry.ofUser(userId).length) return;
    if (route.timer) clearTimeout(route.timer);
    this.routes.delete(userId);
    const left = route.joined.then(() => this.table.leave(userId));
    this.leaving.set(userId, left);
    void left.then(() => this.leaving.get(userId) === left && this.leaving.delete(userId));
  }

  /** Writes every route of this instance again: renewal, and repair after a Redis outage or restart. */
  async renew(): Promise<void> {
    if (this.routes.size) await this.table.renew(this.routes.keys());
  }

  /** Catches the user's settling sockets up with what a stale route missed. */
  private async settle(userId: string): Promise<void> {
    const route = this.routes.get(userId);
    if (!route) return;
    route.timer = null;
    const sockets = [...route.settling];
    route.settling.clear();
    await Promise.all(sockets.map((connection) => this.catchUp(connection)));
  }

  /**
   * Sends the socket every seq after auth:ok's position that it did not get live. The user's
   * seqs are consecutive, so when it got every one up to the current position live (nearly
   * always) that costs one position read and no log read. Seqs still on their way are waited
   * for (IN_FLIGHT_SHARE of the settle time) before they count as missing; the replay starts at
   * the first one that did not come.
   */
  private async catchUp(connection: Connection): Promise<void> {
    const open = () => connection.socket.readyState === connection.socket.OPEN;
    this.startCatching(connection);
    try {
      if (connection.position === null || !open()) return;
      // A resume about to start (the socket holds its live events from before it was bound) goes first.
      while (connection.held && open()) await new Promise((resolve) => setTimeout(resolve, 50));
      // After any replay queued before (a resume, a gap repair): a repair moves the position on (it
      // sent what was missing up to there) and settles afresh.
      await this.replay.exclusive(connection, async () => {
        if (!open()) return;
        const from = Math.max(connection.position!, connection.replayedUpTo);
        const position = await this.log.position(connection.userId!);
        const live = connection.liveSeqs ?? new LiveSeqs();
        const waitUntil = Date.now() + this.settleMs * IN_FLIGHT_SHARE;
        while (position !== null && open() && !live.covers(from, position) && Date.now() < waitUntil) await new Promise((resolve) => setTimeout(resolve, IN_FLIGHT_LOOK_MS));
        if (position === null || !open() || live.covers(from, position)) return;
        // Replayed from the first seq that did not come (what came before it is not read again).
        await this.replayMissed(connection, live.coveredFrom(from), position, live, new LiveSeqs());
      });
    } catch (error) {
      this.logger.warn(`route catch-up failed: ${(error as Error).message}`);
    } finally {
      this.endCatching(connection);
    }
  }

  private startCatching(connection: Connection): void {
    this.catching.set(connection, (this.catching.get(connection) ?? 0) + 1);
  }

  private endCatching(connection: Connection): void {
    const left = (this.catching.get(connection) ?? 1) - 1;
    if (left) this.catching.set(connection, left);
    else this.catching.delete(connection);
  }

  /**
   * Like a resume from `from`: the seqs it got live (`live`) are skipped, later live copies up to
   * `position` dropped; then its live seqs are noted afresh in `next`. `read`: the log from `from`
   * up to `position`, when already read. `from` is the first seq the socket did not get, so what
   * is read and remembered is the span after the gap, however long the socket has been open.
   */
  private replayMissed(connection: Connection, from: number, position: number, live: LiveSeqs, next: LiveSeqs, read: LogRead | null = null): Promise<void> {
    connection.position = position;
    for (const seq of live.within(from, position)) if (connection.early.length < MAX_EARLY) connection.early.push(seq);
    connection.liveSeqs = next;
    return this.replay.replayNow(connection, from, read);
  }

  /**
   * A socket got `frames[0]` (live, or held during a resume) while a seq before it has not
   * reached it: holds the frames (and the live ones after them), sends the missing seqs from the
   * log, then the held frames. The socket's live seqs are noted afresh from the position read
   * here. Declines (false) while it is being caught up.
   */
  private repair(connection: Connection, frames: HeldFrame[]): boolean {
    if (this.catching.has(connection) || connection.held) return false;
    this.startCatching(connection);
    this.replay.holdForRepair(connection, frames);
    const live = connection.liveSeqs ?? new LiveSeqs();
    const missingBelow = frames[0].seq!;
    // In the socket's turn: a resume asked meanwhile waits for the missing seqs and the held frames.
    void this.replay.exclusive(connection, async () => {
      // From the first seq that did not come (what came before it is not read again).
      const from = live.coveredFrom(Math.max(connection.position!, connection.replayedUpTo));
      let repaired = false;
      try {
        const position = await this.log.position(connection.userId!);
        if (position === null || connection.socket.readyState !== connection.socket.OPEN) return;
        // Only a clean read repairs: anything else (a read that finds the log gapped, perhaps
        // while an append is still landing on another primary) leaves the held frames to go out
        // as they are, as if no repair had been tried.
        const read = await this.log.read(connection.userId!, from, REPAIR_LIMIT, position);
        if (read?.kind !== 'events' || read.hasMore || connection.socket.readyState !== connection.socket.OPEN) return;
        await this.replayMissed(connection, from, position, live, new LiveSeqs(), read);
        repaired = true;
      } catch (error) {
        this.logger.warn(`route gap repair failed: ${(error as Error).message}`);
      } finally {
        // The gap stays for the settle check when one is due; else it is let be, so that each
        // later frame does not try (and fail) again. A missing frame that comes late still goes out.
        if (!repaired && !this.awaitsSettle(connection)) live.addRange(from, missingBelow - 1);
        // Unread log or closed socket: the held frames go out as they are.
        this.replay.release(connection);
        this.endCatching(connection);
      }
    });
    return true;
  }

  /** Whether the socket's settle check is still to come. */
  private awaitsSettle(connection: Connection): boolean {
    return this.routes.get(connection.userId!)?.settling.has(connection) ?? false;
  }
}
