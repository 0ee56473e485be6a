/**
 * Server -> client events and their payloads, as the wire contract names them. Features augment
 * this map (`declare module '../realtime/client-events' { interface ClientEvents { ... } }`) so
 * that `RealtimePublisher.toUsers` is typed end to end.
 */
export interface ClientEvents {
  'auth:ok': { userId: string; onlineUserIds: string[] };
  'presence:snapshot': { onlineUserIds: string[] };
  error: { code?: string; message: string; [key: string]: unknown };
}

export type ClientEventName = keyof ClientEvents & string;

/** Close codes the clients understand. */
export const CloseCode = {
  GoingAway: 1001,
  /** The session could not be checked (the database is unreachable): reconnect later, not a logout. */
  TryAgainLater: 1013,
  AuthFailed: 4001,
  SessionTerminated: 4003,
  IdleTimeout: 4008,
  /** Over WS_MAX_SOCKETS_PER_USER or WS_MAX_SOCKETS_PER_IP (as HTTP 429); sent after `error {code:'TOO_MANY_SOCKETS'}`. */
  TooManySockets: 4029,
} as const;

/** Serialises a frame once; the same string is sent to every socket it goes to. */
export function frame<E extends ClientEventName>(event: E, payload: ClientEvents[E]): string {
  return JSON.stringify({ event, payload });
}
