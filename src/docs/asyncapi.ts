import { Type } from '@nestjs/common';
import { fromSchema } from '@openapi-contrib/openapi-schema-to-json-schema';
import { validationMetadatasToSchemas } from 'class-validator-jsonschema';
import { UNLOGGED_EVENTS } from '../realtime/event-log/event-log';
import { SocketEventMetadata } from '../realtime/on-socket-event.decorator';
import { ClientEventName } from '../realtime/client-events';
import { SERVER_EVENTS, ServerEventDoc } from './socket-events';

type Schema = Record<string, any>;

/** The frame the client sends first on a token socket (a cookie socket is authenticated by its upgrade). */
export const AUTH_FRAME_SCHEMA: Schema = {
  type: 'object',
  properties: {
    token: { type: 'string', description: 'the session token (Bearer); absent on a cookie socket, which asks only for auth:ok again (or, with lastSeq, only for the replay)' },
    lastSeq: {
      type: ['integer', 'null'],
      minimum: 0,
      description:
        'resume: the seq of the last event this device received; every later event of the user is replayed in order, each with its seq, before live ones ' +
        '(resync:required instead when it is older than the log holds; error INVALID_SEQ when it is not a position of this user)',
    },
  },
};

/** `seq` of every event addressed to a user but the unlogged ones: a sibling of `event` and `payload`. */
const SEQ_SCHEMA: Schema = {
  type: 'integer',
  description: "the user's position after this event: per user, strictly increasing, the same on every device and instance",
};

/** Events that are sent to one socket only: they never carry a seq. */
const CONNECTION_LOCAL = new Set(['auth:ok', 'presence:snapshot', 'resync:required', 'error']);

const OUT = '#/components/schemas/';
/** Inbound payload schemas live apart from the outbound ones: the same class name may be both, with other rules. */
const IN_PREFIX = 'in.';

/** The payload classes the server event catalogue names (to register them with the OpenAPI document). */
export function serverPayloadClasses(): Array<Type<unknown>> {
  return [...new Set(Object.values(SERVER_EVENTS).flatMap((doc: ServerEventDoc) => (Array.isArray(doc.payload) ? doc.payload : [doc.payload])))];
}

/**
 * The AsyncAPI 3.0 description of `/ws`, built from the code's own definitions: outbound
 * payloads from the classes SERVER_EVENTS names (the types of ClientEvents, described by their
 * @ApiProperty decorators, as `/api/docs` shows them), inbound payloads from the class-validator
 * rules the gateway validates each frame with, and the inbound events from the handlers found at
 * boot (`@OnSocketEvent`), so the document lists exactly what the gateway handles.
 */
export function buildAsyncApi(openApiSchemas: Record<string, Schema>, inbound: SocketEventMetadata[], version: string): Schema {
  const schemas: Record<string, Schema> = {};
  for (const [name, schema] of Object.entries(openApiSchemas)) schemas[name] = toJsonSchema(schema);
  // The server's own validators, as the built-in ones they stand for would be described.
  const additionalConverters = { isId: { type: 'string' as const, format: 'uuid' }, isInstant: { type: 'string' as const, format: 'date-time' } };
  const validation = validationMetadatasToSchemas({ refPointerPrefix: `${OUT}${IN_PREFIX}`, additionalConverters }) as Record<string, Schema>;

  const messages: Record<string, Schema> = {};
  const operations: Record<string, Schema> = {};
  const add = (event: string, action: 'send' | 'receive', summary: string, payload: Schema) => {
    const key = `${action === 'send' ? 'out' : 'in'}_${event.replace(/[^A-Za-z0-9_-]/g, '_')}`;
    const logged = action === 'send' && !CONNECTION_LOCAL.has(event) && !UNLOGGED_EVENTS.has(event as never) && event in SERVER_EVENTS;
    // A logged event that one case sends to a single socket, unlogged: seq is optional and says when it is absent.
    const unloggedWhen = logged ? SERVER_EVENTS[event as ClientEventName].unloggedWhen : undefined;
    const seq = unloggedWhen ? { ...SEQ_SCHEMA, description: `${SEQ_SCHEMA.description}; absent on ${unloggedWhen}` } : SEQ_SCHEMA;
    messages[key] = {
      name: event,
      title: event,
      summary,
      payload: { type: 'object', required: logged && !unloggedWhen ? ['event', 'seq'] : ['event'], properties: { event: { const: event }, payload, ...(logged ? { seq } : {}) } },
    };
    operations[key] = { action, channel: { $ref: '#/channels/socket' }, summary, messages: [{ $ref: `#/channels/socket/messages/${key}` }] };
  };

  for (const [event, doc] of Object.entries(SERVER_EVENTS) as Array<[string, ServerEventDoc]>) add(event, 'send', doc.summary, outboundPayload(doc, schemas));
  add('auth', 'receive', 'Authenticates a token socket; on a cookie socket, asks for auth:ok again', AUTH_FRAME_SCHEMA);
  for (const handler of inbound) {
    const payload = handler.dto ? inboundPayload(handler.dto.name, validation, schemas) : { type: 'object', description: 'no payload' };
    add(handler.event, 'receive', `Handled by the gateway${handler.dto ? ` (validated as ${handler.dto.name})` : ''}`, payload);
    if (handler.errorEvent && !(handler.errorEvent in SERVER_EVENTS)) {
      add(handler.errorEvent, 'send', `A refused ${handler.event} (to the sending socket${handler.echo?.length ? `, with ${handler.echo.join(', ')} echoed` : ''})`, { $ref: `${OUT}SocketErrorEvent` });
    }
  }

  return {
    asyncapi: '3.0.0',
    info: {
      title: 'H2V Messenger socket',
      version,
      description:
        'Frames are JSON `{event, payload}` both ways on `/ws`. A browser socket is authenticated by the `h2v_session` cookie on the upgrade; ' +
        'any other sends `auth {token}` first. Refusals answer the sending socket with `error` (or the event\'s own error event) and keep it open. ' +
        'Every event addressed to the user carries `seq` beside `event` and `payload`: a per-user, strictly increasing position, the same on every device and instance; ' +
        `auth:ok tells the current one. Not logged and without seq: the ephemeral ${[...UNLOGGED_EVENTS].join(', ')} (presence:snapshot restores presence on every connect) ` +
        'and the frames sent to one socket only (auth:ok, presence:snapshot, resync:required, error, message:send:error, and the message:new answering a retried message:send). ' +
        'A device that reconnects sends `auth {token, lastSeq}` (a cookie socket opens `/ws?lastSeq=<seq>`, or sends `auth {lastSeq}` as its first frame, after which live events published before that frame may precede the replay) and gets every later event in order, then live ones, ' +
        'with no gap and no duplicate; when lastSeq is older than the log holds (EVENT_LOG_MAX_EVENTS, EVENT_LOG_MAX_AGE_SECONDS) it gets `resync:required {fromSeq}` and reloads over HTTP. ' +
        'The same catch-up over HTTP: GET /api/events?after=<seq>.',
    },
    servers: { app: { host: 'localhost:3000', protocol: 'ws', pathname: '/ws', description: 'the server itself (wss behind TLS)' } },
    channels: { socket: { address: '/ws', messages } },
    operations,
    components: { schemas },
  };
}

/** A payload class's schema (one of several when the event sends one of them); a partial object keeps only the named fields required. */
function outboundPayload(doc: ServerEventDoc, schemas: Record<string, Schema>): Schema {
  const classes = Array.isArray(doc.payload) ? doc.payload : [doc.payload];
  for (const type of classes) if (!schemas[type.name]) throw new Error(`AsyncAPI: no schema for ${type.name}; register it with the OpenAPI document`);
  if (doc.partial) return { ...schemas[classes[0].name], required: doc.partial };
  if (classes.length === 1) return { $ref: `${OUT}${classes[0].name}` };
  // A client tells the payloads apart by their keys: each is closed, so that exactly one matches.
  for (const type of classes) schemas[type.name] = { ...schemas[type.name], additionalProperties: false };
  return { oneOf: classes.map((type) => ({ $ref: `${OUT}${type.name}` })) };
}

/** A validated DTO's schema and those it refers to, copied under the inbound prefix. */
function inboundPayload(name: string, validation: Record<string, Schema>, schemas: Record<string, Schema>): Schema {
  const pending = [name];
  while (pending.length) {
    const next = pending.pop()!;
    if (schemas[IN_PREFIX + next] || !validation[next]) continue;
    schemas[IN_PREFIX + next] = validation[next];
    for (const ref of JSON.stringify(validation[next]).matchAll(/"\$ref":"[^"]*\/in\.([^"]+)"/g)) pending.push(ref[1]);
  }
  return validation[name] ? { $ref: `${OUT}${IN_PREFIX}${name}` } : { type: 'object' };
}

/**
 * An OpenAPI 3.0 schema as JSON Schema (AsyncAPI's default format): `nullable` becomes a null
 * type, also on a `$ref` (which the converter would drop).
 */
function toJsonSchema(schema: Schema): Schema {
  const converted = fromSchema(nullableRefs(schema) as any, { cloneSchema: true }) as Schema;
  delete converted.$schema;
  return converted;
}

function nullableRefs(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(nullableRefs);
  if (!node || typeof node !== 'object') return node;
  const entries = Object.fromEntries(Object.entries(node).map(([key, value]) => [key, nullableRefs(value)]));
  if (entries.nullable === true && (entries.$ref || entries.allOf)) {
    const { nullable: _nullable, description, ...rest } = entries;
    return { ...(description ? { description } : {}), anyOf: [rest, { type: 'null' }] };
  }
  return entries;
}
