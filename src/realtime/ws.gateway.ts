import { BeforeApplicationShutdown, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import { parse as parseCookies } from 'cookie';
import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { RawData, WebSocket } from 'ws';
import { withTimeout } from '../core/async/with-timeout';
import { AppError, toAppError } from '../core/errors';
import { loggable } from '../core/errors/all-exceptions.filter';
import { frameShape } from '../core/http/input-hygiene';
import { validatePayload, validationError } from '../core/http/validation';
import { leftOfShutdown } from '../core/shutdown';
import { CloseCode } from './client-events';
import { Connection, ConnectionRegistry, socketPosition } from './connection-registry';
import { seqOfText } from './event-log/event-log';
import { EventReplay } from './event-log/event-replay';
import { RealtimePublisher } from './realtime-publisher';
import { FrameOrder } from './frame-order';
import { FramePlace, SocketClient, SocketLifecycle } from './on-socket-event.decorator';
import { SocketAuthenticator } from './socket-authenticator';
import { SocketHandler, SocketHandlers } from './socket-handlers';
import { SocketLimits } from './socket-limits';
import { dropIfBacklogged, rawSocketOf } from './ws-frames';

import { SESSION_COOKIE } from '../core/http/session-cookie';
/** Largest inbound frame; bigger ones close the socket (1009) in the `ws` library itself. */
export const MAX_FRAME_BYTES = 64 * 1024;
/**
 * The most memory a socket's frames waiting their turn may hold (frames are taken one after
 * another): a client that sends faster than its frames are answered, past this, is dropped instead
 * of queued for without end. A frame waits parsed, and counts its bytes plus VALUE_BYTES for each
 * JSON value it holds: 64 KB of `{},{},…` is ~1.3 MB of objects, so bytes alone let a socket whose
 * queue was held (a replay waiting for a client that does not read) keep ~340 MB. A burst of small
 * frames (a multi-forward) is far below it and gets its answers (RATE_LIMIT past the budgets);
 * 256 frames of MAX_FRAME_BYTES of text reach it.
 */
export const MAX_QUEUED_BYTES = 16 * 1024 * 1024;
/** What one parsed JSON value holds of the heap, about: an empty object ~60 bytes, a number in an array 8. */
const VALUE_BYTES = 64;
const AUTH_TIMEOUT_MS = 10_000;
/** A socket that sends nothing (not even `presence:ping`) for this long is closed, unless it said it is away. */
const IDLE_TIMEOUT_MS = 60_000;
const SWEEP_INTERVAL_MS = 10_000;
/** How often sockets still unauthenticated are checked against AUTH_TIMEOUT_MS. */
const AUTH_SWEEP_INTERVAL_MS = 1_000;
/**
 * How long a shutdown waits for the frames in progress to be answered and published, counted from
 * the signal: after the background tasks' wait (SHUTDOWN_WAIT_MS, 3 s), with the jobs' drain that
 * follows (6 s at most) still within SHUTDOWN_DEADLINE_MS. A send takes milliseconds.
 */
export const SHUTDOWN_FRAMES_WAIT_MS = 4_000;
/** The run of a pipelined frame that was not started (shutdown). */
const NOTHING_RUN: Promise<void> = Promise.resolve();
/** A socket's frames before anything was queued. */
const ADMITTED: Promise<unknown> = Promise.resolve(true);
/** Where a socket keeps its connection, for the gateway's shared listeners. */
const CONNECTION = Symbol('connection');
type OwnedSocket = WebSocket & { [CONNECTION]: SocketConnection };

/** A connection with the gateway's own per-socket state, in the one object. */
interface SocketConnection extends Connection {
  /** The tail of the socket's frames (and the cookie's authentication), taken one after another; once closed, its going offline. */
  queue: Promise<unknown>;
  /** Made on the first pipelined frame (FrameOrder); an idle socket never needs one. */
  order: FrameOrder | null;
  /** Bytes of the frames received and not yet taken (MAX_QUEUED_BYTES). */
  queued: number;
}

const connectionOf = (socket: WebSocket): SocketConnection => (socket as OwnedSocket)[CONNECTION];

/** A frame waiting its turn: parsed as it arrived, and whether its budget was charged then (WsGateway.arrived). */
interface QueuedFrame {
  parsed: { event: string; payload: unknown } | AppError;
  /** What it counts against MAX_QUEUED_BYTES while it waits: its bytes and its values' VALUE_BYTES. */
  bytes: number;
  charged: boolean;
}

function onPong(this: WebSocket): void {
  const connection = connectionOf(this);
  connection.lastSeenAt = Math.max(connection.lastSeenAt, Date.now() - IDLE_TIMEOUT_MS / 2);
}

function onError(this: WebSocket): void {
  this.terminate();
}

/** The place of a frame handled after the one before it was answered: nothing to wait for. */
const IN_ORDER: FramePlace = { admitted: () => undefined, inTurn: () => Promise.resolve() };

/**
 * `/ws`: JSON frames `{event, payload}`. Authenticates by the session cookie on the upgrade or
 * by an `auth` frame, then hands each frame, in order, to the feature method marked
 * `@OnSocketEvent(event)`. Refusals answer the sender with an error event; a bad frame never
 * takes the process down. An `auth` frame with `lastSeq` resumes: the events of the user after
 * that position are replayed before live ones (EventReplay).
 */
// No client tracking in `ws`: the registry knows the sockets; its Set and close listener cost every socket.
@WebSocketGateway({ path: '/ws', maxPayload: MAX_FRAME_BYTES, clientTracking: false })
export class WsGateway implements OnGatewayConnection, OnModuleInit, OnModuleDestroy, BeforeApplicationShutdown {
  private readonly logger = new Logger('WebSocket');
  private sweeper: NodeJS.Timeout | null = null;
  private authSweeper: NodeJS.Timeout | null = null;
  /** Sockets not authenticated yet, with when they opened: one shared timer closes the late ones, not a timer per socket. */
  private readonly unauthenticated = new Map<Connection, number>();
  private authenticator: SocketAuthenticator | null = null;
  /** Shutting down: a new socket is told to go elsewhere (1001) at once. */
  private stopping = false;

  constructor(
    private readonly registry: ConnectionRegistry,
    private readonly handlers: SocketHandlers,
    private readonly moduleRef: ModuleRef,
    private readonly limits: SocketLimits,
    private readonly replay: EventReplay,
    private readonly publisher: RealtimePublisher,
  ) {}

  onModuleInit(): void {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
    this.authSweeper = setInterval(() => this.sweepUnauthenticated(), AUTH_SWEEP_INTERVAL_MS);
    this.authSweeper.unref();
  }

  onModuleDestroy(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    if (this.authSweeper) clearInterval(this.authSweeper);
  }

  /**
   * Graceful shutdown: no frame starts any more (one not started yet is dropped unanswered: the
   * client sends it again once it has reconnected elsewhere), the frames in progress finish and
   * what they published reaches the sockets (for what is left of SHUTDOWN_FRAMES_WAIT_MS since the
   * signal), then every client is told we are going away so it reconnects to another instance, and
   * the sockets end once that close frame has been written (what Nest's adapter does when `ws`
   * tracks its clients), so no peer that does not answer holds the shutdown. Closing first would
   * leave a send between its commit and its publication stored but never acknowledged, announced or
   * logged (a resend is answered to its sender alone), and the frames queued behind it starting on a
   * closed database.
   */
  async beforeApplicationShutdown(): Promise<void> {
    // The listener stays open until the app is disposed: a client reconnecting at once must go elsewhere, not be taken here and cut.
    this.stopping = true;
    const open = [...this.registry.all()] as SocketConnection[];
    await withTimeout(this.finished(open), leftOfShutdown(SHUTDOWN_FRAMES_WAIT_MS), null);
    const closed = open.map(({ socket }) => socket.readyState !== socket.CLOSED && new Promise((resolve) => socket.once('close', resolve)));
    for (const connection of open) connection.socket.close(CloseCode.GoingAway, 'server shutting down');
    await new Promise((resolve) => setImmediate(resolve));
    for (const connection of open) connection.socket.terminate();
    // Each closed socket's user goes offline (presence writes their last-online time) before the database closes.
    const offline = Promise.all(closed).then(() => Promise.allSettled(open.map((connection) => connection.queue)));
    await withTimeout(offline, leftOfShutdown(SHUTDOWN_FRAMES_WAIT_MS), null);
  }

  /**
   * Resolves once the frames the sockets had started are answered (a pipelined send's run is in
   * FrameOrder, past the queue that admitted it) and what they published has been handed to the
   * sockets (a send's message:new, its acknowledgement, goes out after its event log append).
   */
  private async finished(open: SocketConnection[]): Promise<void> {
    await Promise.allSettled(
      open.map(async (connection) => {
        await connection.queue;
        await connection.order?.drain();
      }),
    );
    await new Promise<void>((resolve) => this.publisher.afterPublished(resolve));
  }

  /**
   * A new socket. Its listeners are the gateway's shared functions (they find the connection on
   * the socket), not closures made per socket: an idle socket should cost little more than the
   * `ws` library's own state (issue 17).
   */
  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    if (this.stopping) {
      // Ended once the close frame is written, as the open sockets are: a peer that never answers it
      // would otherwise hold the HTTP server's close (an upgraded socket is no longer its connection to cut) past the deadline.
      socket.close(CloseCode.GoingAway, 'server shutting down');
      return void setImmediate(() => socket.terminate());
    }
    const connection: SocketConnection = { id: randomUUID(), socket, userId: null, sessionId: null, away: false, lastSeenAt: Date.now(), position: null, held: null, replayedUpTo: 0, sentUpTo: 0, early: [], liveSeqs: null, queue: ADMITTED, order: null, queued: 0, ended: false };
    (socket as OwnedSocket)[CONNECTION] = connection;
    this.registry.add(connection);
    // Frames and the cookie's authentication wait for the per-address cap (over it, the socket is closed).
    connection.queue = this.limits.admitConnection(connection, request);
    socket.on('message', this.onMessage);
    socket.on('pong', onPong);
    socket.on('error', onError);
    socket.on('close', this.onClose);
    this.unauthenticated.set(connection, Date.now());

    const token = readCookie(request.headers.cookie);
    if (!token) return;
    // `?lastSeq=` on the upgrade resumes a cookie socket seamlessly, as `auth {token, lastSeq}` does a token socket.
    const lastSeq = readLastSeq({ lastSeq: lastSeqOfUrl(request.url) });
    if (lastSeq instanceof AppError) this.send(connection, 'error', errorPayload(lastSeq));
    connection.queue = connection.queue.then(() => this.authenticate(connection, token, lastSeq instanceof AppError ? null : lastSeq));
  }

  private readonly onMessage = ((gateway: WsGateway) =>
    function (this: WebSocket, data: RawData, isBinary: boolean): void {
      const connection = connectionOf(this);
      // The server closed it for an ended session: the client may not have answered yet, but it is no longer that user.
      // Shutting down: a frame is neither charged nor queued, the client sends it again elsewhere.
      if (connection.ended || gateway.stopping) return;
      const bytes = byteLength(data);
      // Before parsing, by its bytes; then by what it holds parsed.
      if ((connection.queued += bytes) > MAX_QUEUED_BYTES) return void this.terminate();
      connection.lastSeenAt = Date.now();
      const frame = gateway.arrived(connection, data, isBinary, bytes);
      if (!frame) return void (connection.queued -= bytes);
      if ((connection.queued += frame.bytes - bytes) > MAX_QUEUED_BYTES) return void this.terminate();
      connection.queue = connection.queue.then(() => gateway.onFrame(connection, frame)).catch((error) => gateway.logger.error(error));
    })(this);

  private readonly onClose = ((gateway: WsGateway) =>
    function (this: WebSocket): void {
      gateway.closed(connectionOf(this));
    })(this);

  private closed(connection: SocketConnection): void {
    this.limits.release(connection);
    this.registry.remove(connection);
    this.unauthenticated.delete(connection);
    // An authentication in flight (on the socket's queue) may still route the socket here and mark
    // its user online: undone once it is over, not before (a false "online" would stay until the lease ran out).
    const undo = () => {
      this.publisher.detach(connection);
      if (connection.userId) return this.lifecycle(connection, SocketLifecycle.Disconnected);
    };
    // On the queue: a shutdown waits for it before the database and Redis close (beforeApplicationShutdown).
    connection.queue = connection.queue.then(undo, undo);
  }

  /**
   * A frame as it arrives: parsed, and on an authenticated socket charged to its user's budget
   * (SocketLimits) at once. One over the budget is answered RATE_LIMIT now and never queued (null):
   * charged when their turn came, frames slower to answer than the budget refills (a re-`auth` of a
   * user in many groups reads all their relations) piled up unrefused, and kept the server busy
   * long after their socket closed. A frame that arrives before its socket is authenticated is
   * charged when its turn comes. A repeated `auth` costs what a connect does, and is charged as one.
   */
  private arrived(connection: SocketConnection, data: RawData, isBinary: boolean, bytes: number): QueuedFrame | null {
    const parsed = isBinary ? new AppError('INVALID_FRAME') : parseFrame(data);
    const frame: QueuedFrame = { parsed, bytes: parsed instanceof AppError ? bytes : bytes + parsed.values * VALUE_BYTES, charged: false };
    if (!connection.userId || parsed instanceof AppError) return frame;
    const handler = parsed.event === 'auth' ? undefined : this.handlers.get(parsed.event)[0];
    // Unknown events and the keep-alive cost nothing to answer, and are not counted.
    if (parsed.event !== 'auth' && (!handler || handler.event.startsWith('$'))) return frame;
    try {
      if (handler) this.limits.consume(connection.userId, handler.event);
      else this.limits.consumeConnect(connection.userId);
    } catch (error) {
      if (handler) this.refuse(connection, handler, parsed.payload, error);
      else this.send(connection, 'error', errorPayload(toAppError(error)!));
      return null;
    }
    frame.charged = true;
    return frame;
  }

  /**
   * Takes one frame; the next is taken when this one has been answered, or, for an event whose
   * handler allows it (`pipeline`), as soon as the handler has admitted it (FrameOrder).
   */
  private async onFrame(connection: SocketConnection, { parsed, bytes, charged }: QueuedFrame): Promise<void> {
    connection.queued -= bytes;
    // Shutting down: frames in progress finish, none starts (beforeApplicationShutdown).
    if (connection.ended || this.stopping) return;
    // A socket closed before it authenticated (a failed `auth`, the address cap, the timeout) is
    // answered no more: its queued frames would each cost a session lookup, after the client left.
    if (!connection.userId && connection.socket.readyState !== connection.socket.OPEN) return;
    const handler = parsed instanceof AppError || !connection.userId || !connection.sessionId ? undefined : this.handlers.get(parsed.event)[0];
    if (handler?.pipeline && handler.pipeline > 1 && !handler.event.startsWith('$')) return this.pipelined(connection, (connection.order ??= new FrameOrder()), handler, (parsed as { payload: unknown }).payload, charged);
    if (connection.order) await connection.order.drain();
    if (this.stopping) return;
    if (parsed instanceof AppError) return this.send(connection, 'error', errorPayload(parsed));
    const { event, payload } = parsed;
    if (event === 'auth') {
      const lastSeq = readLastSeq(payload);
      if (lastSeq instanceof AppError) return this.send(connection, 'error', errorPayload(lastSeq));
      // A cookie socket got its auth:ok on the upgrade: `auth {lastSeq}` asks only for the replay.
      if (connection.userId) {
        // Each answer reads the session and the user's relations, or replays the log: counted as a connect (arrived).
        try {
          if (!charged) this.limits.consumeConnect(connection.userId);
        } catch (error) {
          return this.send(connection, 'error', errorPayload(toAppError(error)!));
        }
        // A token of another session does not switch the socket to it: refused, the socket stays as it is.
        const own = await this.isOwnToken(connection, (payload as { token?: unknown })?.token);
        if (own === null) return this.send(connection, 'error', { code: 'SERVICE_UNAVAILABLE', message: 'Try again later' });
        if (!own) return this.send(connection, 'error', { code: 'UNAUTHORIZED', message: 'This socket is authenticated with another session: open a new socket for it' });
        if (lastSeq === null) return void (await this.lifecycle(connection, SocketLifecycle.Reauth));
        return this.replay.resume(connection, lastSeq);
      }
      const token = typeof (payload as { token?: unknown })?.token === 'string' ? (payload as { token: string }).token : '';
      return this.authenticate(connection, token, lastSeq);
    }
    if (!connection.userId || !connection.sessionId) {
      return this.send(connection, 'error', { code: 'UNAUTHORIZED', message: 'Authenticate first' });
    }
    if (!handler || event.startsWith('$')) {
      if (event === 'presence:ping') return; // a keep-alive needs nothing beyond lastSeenAt
      return this.send(connection, 'error', { code: 'UNKNOWN_EVENT', message: `Unknown event '${event.slice(0, 64)}'` });
    }
    try {
      await this.handle(connection, handler, payload, IN_ORDER, false, charged);
    } catch (error) {
      this.refuse(connection, handler, payload, error);
    }
  }

  /** A frame of a pipelined event: the next frame is taken once this one is admitted; its refusal waits for the earlier answers. */
  private async pipelined(connection: Connection, order: FrameOrder, handler: SocketHandler, payload: unknown, charged: boolean): Promise<void> {
    const slot = await order.enter(handler.event, handler.pipeline!);
    if (this.stopping) return slot.finish(NOTHING_RUN);
    const place: FramePlace = { admitted: slot.admit, inTurn: () => slot.previous };
    const run = this.handle(connection, handler, payload, place, true, charged).catch(async (error: unknown) => {
      await slot.previous;
      this.refuse(connection, handler, payload, error, true);
    });
    slot.finish(run);
    await Promise.race([slot.admitted, run]);
  }

  /** `charged`: the frame's budget was taken as it arrived (arrived); else it is taken now. */
  private async handle(connection: Connection, handler: SocketHandler, payload: unknown, place: FramePlace, pipelined: boolean, charged: boolean): Promise<void> {
    if (!charged) this.limits.consume(connection.userId!, handler.event);
    const input = handler.dto ? await validatePayload(handler.dto, payload ?? {}) : payload;
    await handler.invoke(this.client(connection, place, pipelined), input);
  }

  /** Answers a refused frame with the handler's error event (the catalogue's code; INTERNAL_ERROR for anything else, logged). */
  private refuse(connection: Connection, handler: SocketHandler, payload: unknown, error: unknown, pipelined = false): void {
    const appError = toAppError(error);
    if (!appError) this.logger.error({ err: loggable(error), event: handler.event }, 'socket handler failed');
    const body = appError ? errorPayload(appError) : { code: 'INTERNAL_ERROR', message: 'Internal server error' };
    (pipelined ? this.sendAfterPublished : this.send).call(this, connection, handler.errorEvent ?? 'error', { ...body, ...echo(payload, handler.echo) });
  }

  /**
   * Whether a repeated `auth` names the socket's own session: no token (a cookie socket's resume)
   * does; null when it cannot be checked now (not knowing is not "another session", which the
   * client would take for a logout).
   */
  private async isOwnToken(connection: Connection, token: unknown): Promise<boolean | null> {
    if (token === undefined || token === null || token === '') return true;
    if (typeof token !== 'string') return false;
    try {
      return (await this.getAuthenticator().authenticate(token))?.sessionId === connection.sessionId;
    } catch (error) {
      this.logger.warn({ err: loggable(error) }, 'socket session could not be checked');
      return null;
    }
  }

  /** With `lastSeq`, the live events are held from the bind on and the replay follows auth:ok. */
  private async authenticate(connection: Connection, token: string, lastSeq: number | null = null): Promise<void> {
    let identity: { userId: string; sessionId: string } | null = null;
    try {
      identity = token ? await this.getAuthenticator().authenticate(token) : null;
    } catch (error) {
      // Not knowing is not "unknown session": 4001 would make the client log out.
      this.logger.warn({ err: loggable(error) }, 'socket session could not be checked');
      this.send(connection, 'error', { code: 'SERVICE_UNAVAILABLE', message: 'Try again later' });
      connection.socket.close(CloseCode.TryAgainLater, 'try again later');
      return;
    }
    if (!identity) {
      this.send(connection, 'error', { code: 'UNAUTHORIZED', message: 'Invalid or expired session' });
      connection.socket.close(CloseCode.AuthFailed, 'authentication failed');
      return;
    }
    try {
      this.limits.consumeConnect(identity.userId);
    } catch (error) {
      this.send(connection, 'error', errorPayload(toAppError(error)!));
      connection.socket.close(CloseCode.TryAgainLater, 'too many connections');
      return;
    }
    if (!(await this.limits.admitUser(connection, identity.userId))) return;
    if (lastSeq !== null) this.replay.hold(connection);
    this.unauthenticated.delete(connection);
    if (!this.registry.bind(connection, identity.userId, identity.sessionId)) return;
    // Bound and routed first, then the position: every event above it reaches this socket live.
    await this.publisher.attach(connection);
    await this.replay.locate(connection);
    if (connection.socket.readyState !== connection.socket.OPEN) return;
    if (!(await this.lifecycle(connection, SocketLifecycle.Connected))) return;
    if (lastSeq !== null) await this.replay.resume(connection, lastSeq);
  }

  /**
   * Raises a lifecycle pseudo-event; presence answers `$connected` with auth:ok and the snapshot.
   * False when a handler failed. A socket that got no auth:ok is not left waiting for it: with the
   * database unreachable (its session came from the cache, its relations could not be read) it is
   * told SERVICE_UNAVAILABLE and closed 1013, to come back later, as when the session cannot be
   * checked; on a fault of the server's own, closed 1011. A failed re-auth is answered and the
   * socket stays as it was.
   */
  private async lifecycle(connection: Connection, event: string): Promise<boolean> {
    const handlers = this.handlers.get(event);
    const answersAuth = event === SocketLifecycle.Connected || event === SocketLifecycle.Reauth;
    if (answersAuth && !handlers.length) {
      this.send(connection, 'auth:ok', { userId: connection.userId, onlineUserIds: [], seq: socketPosition(connection) });
      this.send(connection, 'presence:snapshot', { onlineUserIds: [] });
      return true;
    }
    for (const handler of handlers) {
      try {
        await handler.invoke(this.client(connection), undefined);
      } catch (error) {
        const known = toAppError(error);
        if (known) this.logger.warn({ err: loggable(error), event }, 'socket lifecycle handler refused');
        else this.logger.error({ err: loggable(error), event }, 'socket lifecycle handler failed');
        if (!answersAuth) continue;
        this.send(connection, 'error', known ? errorPayload(known) : { code: 'INTERNAL_ERROR', message: 'Internal server error' });
        if (event === SocketLifecycle.Connected) connection.socket.close(known ? CloseCode.TryAgainLater : CloseCode.InternalError, 'try again later');
        return false;
      }
    }
    return true;
  }

  private client(connection: Connection, place: FramePlace = IN_ORDER, pipelined = false): SocketClient {
    return {
      connection,
      userId: connection.userId!,
      sessionId: connection.sessionId!,
      send: (event, payload) => (pipelined ? this.sendAfterPublished(connection, event, payload) : this.send(connection, event, payload)),
      admitted: place.admitted,
      inTurn: place.inTurn,
    };
  }

  /**
   * A direct answer to a pipelined frame: after the events published so far have been handed to
   * the sockets (an earlier frame's message:new waits for its append), before any published later.
   */
  private sendAfterPublished(connection: Connection, event: string, payload: unknown): void {
    this.publisher.afterPublished(() => this.send(connection, event, payload));
  }

  /** The frames sent to a socket in one turn (auth:ok and presence:snapshot) leave in one write. */
  private send(connection: Connection, event: string, payload: unknown): void {
    const socket = connection.socket;
    if (socket.readyState !== socket.OPEN) return;
    const raw = rawSocketOf(socket);
    if (raw) this.registry.cork(raw);
    socket.send(JSON.stringify({ event, payload }));
    // A corked socket's backlog is checked when the registry uncorks it.
    if (!raw) dropIfBacklogged(socket);
  }

  private getAuthenticator(): SocketAuthenticator {
    this.authenticator ??= this.moduleRef.get(SocketAuthenticator, { strict: false });
    return this.authenticator!;
  }

  /** Closes the sockets that did not authenticate within AUTH_TIMEOUT_MS (4001). */
  private sweepUnauthenticated(): void {
    const due = Date.now() - AUTH_TIMEOUT_MS;
    for (const [connection, openedAt] of this.unauthenticated) {
      // Oldest first: the rest opened later.
      if (openedAt > due) break;
      this.unauthenticated.delete(connection);
      if (!connection.userId) connection.socket.close(CloseCode.AuthFailed, 'authentication timeout');
    }
  }

  /** Closes silent sockets and pings the rest so dead TCP peers are noticed. */
  private sweep(): void {
    const now = Date.now();
    for (const connection of this.registry.all()) {
      if (!connection.away && now - connection.lastSeenAt > IDLE_TIMEOUT_MS) {
        connection.socket.close(CloseCode.IdleTimeout, 'idle timeout');
      } else if (connection.socket.readyState === connection.socket.OPEN) {
        connection.socket.ping();
      }
    }
  }
}

function readCookie(header: string | undefined): string | null {
  if (!header) return null;
  return parseCookies(header)[SESSION_COOKIE] ?? null;
}

/**
 * A frame's event and payload, and how many JSON values it holds (frameShape); INVALID_FRAME when
 * it is not a JSON object with an event name, VALIDATION_ERROR when it nests too deep.
 */
function parseFrame(data: RawData): { event: string; payload: unknown; values: number } | AppError {
  let value: unknown;
  try {
    value = JSON.parse(data.toString());
  } catch {
    return new AppError('INVALID_FRAME');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return new AppError('INVALID_FRAME');
  const { tooDeep, values } = frameShape(value);
  if (tooDeep) return validationError(tooDeep);
  const { event, payload, data: legacy } = value as { event?: unknown; payload?: unknown; data?: unknown };
  if (typeof event !== 'string' || !event || event.length > 64) return new AppError('INVALID_FRAME');
  return { event, payload: payload ?? legacy, values };
}

/** The `lastSeq` of an `auth` frame: null when absent (or null), VALIDATION_ERROR when not a non-negative integer. */
function readLastSeq(payload: unknown): number | null | AppError {
  const value = payload && typeof payload === 'object' ? (payload as { lastSeq?: unknown }).lastSeq : undefined;
  if (value === undefined || value === null) return null;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  return validationError({ lastSeq: ['lastSeq must be a non-negative integer (the seq of the last event received)'] });
}

/** The `lastSeq` query parameter of an upgrade's URL, as a number when it reads as one (readLastSeq judges it). */
function lastSeqOfUrl(url: string | undefined): unknown {
  const query = url?.indexOf('?') ?? -1;
  if (query === -1) return undefined;
  const value = new URLSearchParams(url!.slice(query + 1)).get('lastSeq');
  return value === null ? undefined : (seqOfText(value) ?? value);
}

/** Longest string echoed back in an error (a clientMessageId is a UUID; anything else is the client's, but not sent back whole). */
const MAX_ECHOED = 64;

/** The fields of a refused frame its error carries back (a clientMessageId): strings of at most MAX_ECHOED characters only. */
function echo(payload: unknown, fields: string[] | undefined): Record<string, unknown> {
  if (!fields || !payload || typeof payload !== 'object') return {};
  const source = payload as Record<string, unknown>;
  return Object.fromEntries(fields.filter((f) => typeof source[f] === 'string' && (source[f] as string).length <= MAX_ECHOED).map((f) => [f, source[f]]));
}

/** The size of a received frame (a Buffer with the default binaryType; the other shapes for completeness). */
function byteLength(data: RawData): number {
  if (Array.isArray(data)) return data.reduce((sum, part) => sum + part.length, 0);
  return data.byteLength;
}

/** The payload of a socket error event: the error's code and message, and its details beside them. */
function errorPayload(error: AppError): Record<string, unknown> {
  return { code: error.code, message: error.message, ...error.details };
}
