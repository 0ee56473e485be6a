import { SetMetadata } from '@nestjs/common';
import type { Connection } from './connection-registry';

export const SOCKET_EVENT = Symbol('h2v:socket-event');

/**
 * Lifecycle pseudo-events the gateway raises for an authenticated connection. `$reauth`: an
 * `auth` frame on a socket that is already authenticated (the cookie did it): answered with the
 * same auth:ok and snapshot a first authentication gets, never an empty one.
 */
export const SocketLifecycle = { Connected: '$connected', Disconnected: '$disconnected', Reauth: '$reauth' } as const;

export interface SocketEventOptions {
  /** DTO class the payload is validated against (whitelist, unknown fields refused). */
  dto?: new () => object;
  /** Event the refusal is sent as (default `error`), e.g. `message:send:error`. */
  errorEvent?: string;
  /** Payload fields echoed back in the refusal (e.g. `clientMessageId`). */
  echo?: string[];
}

export interface SocketEventMetadata extends SocketEventOptions {
  event: string;
}

/** An authenticated client as seen by a socket handler. */
export interface SocketClient {
  readonly connection: Connection;
  readonly userId: string;
  readonly sessionId: string;
  send(event: string, payload: unknown): void;
}

/**
 * Marks a feature method as the handler of an inbound frame: `(client: SocketClient, payload) => …`.
 * Discovered at boot; the gateway imports no feature and no feature imports the gateway.
 */
export const OnSocketEvent = (event: string, options: SocketEventOptions = {}) =>
  SetMetadata(SOCKET_EVENT, { event, ...options } satisfies SocketEventMetadata);
