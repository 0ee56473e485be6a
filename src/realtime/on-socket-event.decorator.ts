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
  /**
   * How many frames of this event one socket may have in progress at once (default 1: each frame
   * waits until the one before it was answered). Above 1, the socket's next frame of the event
   * starts once the handler calls `client.admitted()`; the handler answers after
   * `await client.inTurn()`, and refusals are sent in frame order by the gateway.
   */
  pipeline?: number;
}

export interface SocketEventMetadata extends SocketEventOptions {
  event: string;
}

/** Where a frame stands among its socket's frames (see SocketEventOptions.pipeline); for other frames both are no-ops. */
export interface FramePlace {
  /** The frame has taken its place (e.g. queued for a send batch): the socket's next frame may start. */
  admitted(): void;
  /** Settles once the socket's earlier frames have been answered: answer after it, so answers keep frame order. */
  inTurn(): Promise<void>;
}

/** An authenticated client as seen by a socket handler, for the frame it handles. */
export interface SocketClient extends FramePlace {
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
