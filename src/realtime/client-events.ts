import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/**
 * Server -> client events and their payloads, as the wire contract names them. Features augment
 * this map (`declare module '../realtime/client-events' { interface ClientEvents { ... } }`) so
 * that `RealtimePublisher.toUsers` is typed end to end.
 */
export interface ClientEvents {
  'auth:ok': AuthOkEvent;
  'presence:snapshot': PresenceSnapshotEvent;
  'resync:required': ResyncRequiredEvent;
  error: SocketErrorEvent;
}

/*
 * Payload classes: the TypeScript type of an event and the schema of its AsyncAPI description
 * (src/docs/socket-events.ts) are one definition, so the document cannot drift from the code.
 */
export class AuthOkEvent {
  @ApiProperty({ format: 'uuid' }) userId: string;
  @ApiProperty({ type: [String], description: 'the related users online now that this user may see: the same list as the presence:snapshot that follows' })
  onlineUserIds: string[];
  @ApiProperty({
    type: Number,
    nullable: true,
    description: "the user's current position in their event stream: every later event comes on this socket with a higher `seq`; null while the event log is unreachable",
  })
  seq: number | null;
}

export class ResyncRequiredEvent {
  @ApiProperty({ description: 'the lastSeq of the resume is older than the log holds: reload state over HTTP; the live events after this position come on the socket' })
  fromSeq: number;
}

export class PresenceSnapshotEvent {
  @ApiProperty({ type: [String], description: 'the related users online now that this user may see' }) onlineUserIds: string[];
}

/**
 * The details a socket refusal can carry beside code and message are those of the AppErrors its
 * handlers throw (VALIDATION_ERROR's `errors`, RATE_LIMIT's and SERVICE_UNAVAILABLE's
 * `retryAfter`) and the fields a handler echoes (message:send's `clientMessageId`): each is
 * declared so that the AsyncAPI document names every key a client can meet.
 */
export class SocketErrorEvent {
  @ApiPropertyOptional({ description: 'an error code of the catalogue (as over HTTP)' }) code?: string;
  @ApiProperty() message: string;
  @ApiPropertyOptional({ format: 'uuid', description: 'message:send:error: the clientMessageId of the refused message:send, echoed' })
  clientMessageId?: string;
  @ApiPropertyOptional({
    type: 'object',
    additionalProperties: { type: 'array', items: { type: 'string' } },
    description: 'VALIDATION_ERROR: the messages of each refused field, by field name',
  })
  errors?: Record<string, string[]>;
  @ApiPropertyOptional({ type: 'integer', description: 'RATE_LIMIT, SERVICE_UNAVAILABLE: seconds to wait before trying again' })
  retryAfter?: number;
  [key: string]: unknown;
}

export type ClientEventName = keyof ClientEvents & string;

/** Close codes the clients understand. */
export const CloseCode = {
  GoingAway: 1001,
  /** The instance may have missed events for the socket (its bus subscription was cut): reconnect and resume with lastSeq. */
  ServiceRestart: 1012,
  /** The session could not be checked (the database is unreachable): reconnect later, not a logout. */
  TryAgainLater: 1013,
  /** The server failed to set the socket up (a fault of its own): reconnect. */
  InternalError: 1011,
  AuthFailed: 4001,
  SessionTerminated: 4003,
  IdleTimeout: 4008,
  /** Over WS_MAX_SOCKETS_PER_USER or WS_MAX_SOCKETS_PER_IP (as HTTP 429); sent after `error {code:'TOO_MANY_SOCKETS'}`. */
  TooManySockets: 4029,
} as const;

/** Serialises a frame (for one socket; see encodeFrame for many). */
export function frame<E extends ClientEventName>(event: E, payload: ClientEvents[E]): string {
  return JSON.stringify({ event, payload });
}

/**
 * The bytes of an encoded frame (encodeFrame) whose payload, an object, gets one more key at its
 * end, made from the bytes instead of serialising the payload again: the sender's copy of
 * `message:new` is the members' frame with its `clientMessageId` (issue 17: one serialisation per
 * message where the views are the same).
 */
export function withLastKey(frame: Buffer, key: string, value: string | number | boolean): Buffer {
  // A frame ends with the payload's `}` and the frame's `}`.
  const at = frame.length - 2;
  const empty = frame[at - 1] === 0x7b; // `{`: the payload has no key yet
  const addition = Buffer.from(`${empty ? '' : ','}${JSON.stringify(key)}:${JSON.stringify(value)}`);
  return Buffer.concat([frame.subarray(0, at), addition, frame.subarray(at)]);
}

/** Serialises a frame once into the UTF-8 bytes that are written to every socket it goes to. */
export function encodeFrame<E extends ClientEventName>(event: E, payload: ClientEvents[E]): Buffer {
  return Buffer.from(frame(event, payload));
}
