import { BeforeApplicationShutdown, Logger, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { ModuleRef } from '@nestjs/core';
import { OnGatewayConnection, WebSocketGateway } from '@nestjs/websockets';
import { parse as parseCookies } from 'cookie';
import type { IncomingMessage } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { RawData, WebSocket } from 'ws';
import { AppError, toAppError } from '../core/errors';
import { loggable } from '../core/errors/all-exceptions.filter';
import { findDepthProblem } from '../core/http/input-hygiene';
import { validatePayload, validationError } from '../core/http/validation';
import { CloseCode } from './client-events';
import { Connection, ConnectionRegistry } from './connection-registry';
import { SocketClient, SocketLifecycle } from './on-socket-event.decorator';
import { SocketAuthenticator } from './socket-authenticator';
import { SocketHandlers } from './socket-handlers';
import { SocketLimits } from './socket-limits';

import { SESSION_COOKIE } from '../core/http/session-cookie';
/** Largest inbound frame; bigger ones close the socket (1009) in the `ws` library itself. */
export const MAX_FRAME_BYTES = 64 * 1024;
const AUTH_TIMEOUT_MS = 10_000;
/** A socket that sends nothing (not even `presence:ping`) for this long is closed, unless it said it is away. */
const IDLE_TIMEOUT_MS = 60_000;
const SWEEP_INTERVAL_MS = 10_000;

/**
 * `/ws`: JSON frames `{event, payload}`. Authenticates by the session cookie on the upgrade or
 * by an `auth` frame, then hands each frame, in order, to the feature method marked
 * `@OnSocketEvent(event)`. Refusals answer the sender with an error event; a bad frame never
 * takes the process down.
 */
@WebSocketGateway({ path: '/ws', maxPayload: MAX_FRAME_BYTES })
export class WsGateway implements OnGatewayConnection, OnModuleInit, OnModuleDestroy, BeforeApplicationShutdown {
  private readonly logger = new Logger('WebSocket');
  private sweeper: NodeJS.Timeout | null = null;
  private authenticator: SocketAuthenticator | null = null;

  constructor(
    private readonly registry: ConnectionRegistry,
    private readonly handlers: SocketHandlers,
    private readonly moduleRef: ModuleRef,
    private readonly limits: SocketLimits,
  ) {}

  onModuleInit(): void {
    this.sweeper = setInterval(() => this.sweep(), SWEEP_INTERVAL_MS);
    this.sweeper.unref();
  }

  onModuleDestroy(): void {
    if (this.sweeper) clearInterval(this.sweeper);
  }

  /** Graceful shutdown: tell every client we are going away so it reconnects to another instance. */
  beforeApplicationShutdown(): void {
    for (const connection of this.registry.all()) connection.socket.close(CloseCode.GoingAway, 'server shutting down');
  }

  handleConnection(socket: WebSocket, request: IncomingMessage): void {
    const connection: Connection = { id: randomUUID(), socket, userId: null, sessionId: null, away: false, lastSeenAt: Date.now() };
    this.registry.add(connection);
    // Frames and the cookie's authentication wait for the per-address cap (over it, the socket is closed).
    let queue: Promise<unknown> = this.limits.admitConnection(connection, request);
    socket.on('message', (data: RawData, isBinary: boolean) => {
      connection.lastSeenAt = Date.now();
      queue = queue.then(() => this.onFrame(connection, data, isBinary)).catch((error) => this.logger.error(error));
    });
    socket.on('pong', () => (connection.lastSeenAt = Math.max(connection.lastSeenAt, Date.now() - IDLE_TIMEOUT_MS / 2)));
    socket.on('error', () => socket.terminate());
    socket.once('close', () => {
      this.registry.remove(connection);
      if (connection.userId) void this.lifecycle(connection, SocketLifecycle.Disconnected);
    });

    const authTimer = setTimeout(() => {
      if (!connection.userId) socket.close(CloseCode.AuthFailed, 'authentication timeout');
    }, AUTH_TIMEOUT_MS);
    authTimer.unref();
    socket.once('close', () => clearTimeout(authTimer));

    const token = readCookie(request.headers.cookie);
    if (token) queue = queue.then(() => this.authenticate(connection, token));
  }

  private async onFrame(connection: Connection, data: RawData, isBinary: boolean): Promise<void> {
    const parsed = isBinary ? new AppError('INVALID_FRAME') : parseFrame(data);
    if (parsed instanceof AppError) return this.send(connection, 'error', { code: parsed.code, message: parsed.message, ...parsed.details });
    const { event, payload } = parsed;
    if (event === 'auth') {
      if (connection.userId) return this.lifecycle(connection, SocketLifecycle.Reauth);
      const token = typeof (payload as { token?: unknown })?.token === 'string' ? (payload as { token: string }).token : '';
      return this.authenticate(connection, token);
    }
    if (!connection.userId || !connection.sessionId) {
      return this.send(connection, 'error', { code: 'UNAUTHORIZED', message: 'Authenticate first' });
    }
    const handlers = this.handlers.get(event);
    if (!handlers.length || event.startsWith('$')) {
      if (event === 'presence:ping') return; // a keep-alive needs nothing beyond lastSeenAt
      return this.send(connection, 'error', { code: 'UNKNOWN_EVENT', message: `Unknown event '${event.slice(0, 64)}'` });
    }
    const [handler] = handlers;
    const client = this.client(connection);
    try {
      this.limits.consume(connection.userId, event);
      const input = handler.dto ? await validatePayload(handler.dto, payload ?? {}) : payload;
      await handler.invoke(client, input);
    } catch (error) {
      const appError = toAppError(error);
      if (!appError) this.logger.error({ err: loggable(error), event }, 'socket handler failed');
      const body = appError
        ? { code: appError.code, message: appError.message, ...appError.details }
        : { code: 'INTERNAL_ERROR', message: 'Internal server error' };
      this.send(connection, handler.errorEvent ?? 'error', { ...body, ...echo(payload, handler.echo) });
    }
  }

  private async authenticate(connection: Connection, token: string): Promise<void> {
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
    if (!(await this.limits.admitUser(connection, identity.userId))) return;
    this.registry.bind(connection, identity.userId, identity.sessionId);
    await this.lifecycle(connection, SocketLifecycle.Connected);
  }

  /** Raises a lifecycle pseudo-event; presence answers `$connected` with auth:ok and the snapshot. */
  private async lifecycle(connection: Connection, event: string): Promise<void> {
    const handlers = this.handlers.get(event);
    if ((event === SocketLifecycle.Connected || event === SocketLifecycle.Reauth) && !handlers.length) {
      this.send(connection, 'auth:ok', { userId: connection.userId, onlineUserIds: [] });
      this.send(connection, 'presence:snapshot', { onlineUserIds: [] });
      return;
    }
    for (const handler of handlers) {
      try {
        await handler.invoke(this.client(connection), undefined);
      } catch (error) {
        this.logger.error({ err: error, event }, 'socket lifecycle handler failed');
      }
    }
  }

  private client(connection: Connection): SocketClient {
    return {
      connection,
      userId: connection.userId!,
      sessionId: connection.sessionId!,
      send: (event, payload) => this.send(connection, event, payload),
    };
  }

  private send(connection: Connection, event: string, payload: unknown): void {
    if (connection.socket.readyState === connection.socket.OPEN) connection.socket.send(JSON.stringify({ event, payload }));
  }

  private getAuthenticator(): SocketAuthenticator {
    this.authenticator ??= this.moduleRef.get(SocketAuthenticator, { strict: false });
    return this.authenticator!;
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

/** A frame's event and payload; INVALID_FRAME when it is not a JSON object with an event name, VALIDATION_ERROR when it nests too deep. */
function parseFrame(data: RawData): { event: string; payload: unknown } | AppError {
  let value: unknown;
  try {
    value = JSON.parse(data.toString());
  } catch {
    return new AppError('INVALID_FRAME');
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return new AppError('INVALID_FRAME');
  const tooDeep = findDepthProblem(value);
  if (tooDeep) return validationError(tooDeep);
  const { event, payload, data: legacy } = value as { event?: unknown; payload?: unknown; data?: unknown };
  if (typeof event !== 'string' || !event || event.length > 64) return new AppError('INVALID_FRAME');
  return { event, payload: payload ?? legacy };
}

function echo(payload: unknown, fields: string[] | undefined): Record<string, unknown> {
  if (!fields || !payload || typeof payload !== 'object') return {};
  const source = payload as Record<string, unknown>;
  return Object.fromEntries(fields.filter((f) => source[f] !== undefined).map((f) => [f, source[f]]));
}
