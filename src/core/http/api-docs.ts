import { applyDecorators, INestApplication, Type } from '@nestjs/common';
import { ApiExtraModels, ApiResponse, DocumentBuilder, OpenAPIObject, SchemaObject, SwaggerModule, getSchemaPath } from '@nestjs/swagger';
import { ERROR_CODES, ErrorCode, QUALIFIED_CODES } from '../errors';

/** A success body that is one of several shapes: its schema, and the classes it refers to. */
export interface EnvelopeData {
  schema: SchemaObject;
  models: Array<Type<unknown>>;
}

/** Documents a route's success body inside the envelope: `{success:true, data: <type>}`. */
export function ApiEnvelope(type: Type<unknown> | EnvelopeData | null, options: { status?: number; isArray?: boolean; description?: string } = {}) {
  const models = type === null ? [] : 'schema' in type ? type.models : [type];
  const data =
    type === null
      ? { type: 'object', nullable: true }
      : 'schema' in type
        ? type.schema
        : options.isArray
          ? { type: 'array', items: { $ref: getSchemaPath(type) } }
          : { $ref: getSchemaPath(type) };
  return applyDecorators(
    ...(models.length ? [ApiExtraModels(...models)] : []),
    ApiResponse({
      status: options.status ?? 200,
      description: options.description ?? 'Success',
      schema: { type: 'object', required: ['success', 'data'], properties: { success: { type: 'boolean', enum: [true] }, data } },
    }),
  );
}

/**
 * Documents the error codes a route can answer with, grouped by HTTP status. A code answered
 * with another status than the catalogue's is given as `{ code, status }`. A code sent with a
 * detail (QUALIFIED_CODES) is documented in the form the client receives, `<code>:<detail>`.
 */
export function ApiErrors(...codes: Array<ErrorCode | { code: ErrorCode; status: number }>) {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const entry of codes) {
    const { code, status } = typeof entry === 'string' ? { code: entry, status: ERROR_CODES[entry].status } : entry;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  return applyDecorators(...[...byStatus].map(([status, list]) => ApiResponse({ status, ...errorBody(list) })));
}

const RETRY_AFTER: SchemaObject = { type: 'integer', description: 'seconds to wait before trying again, as the Retry-After header says' };
const LOCKED_UNTIL: SchemaObject = { type: 'string', format: 'date-time', description: 'when the email may be used again' };

/**
 * The fields an error body carries beside success, code and message, by the code that sends
 * them (the details of its AppError, which the filter writes at the top level). A code missing
 * here sends none; a route answering several codes with one status documents each code's fields,
 * all optional.
 */
const ERROR_DETAILS: Partial<Record<ErrorCode, Record<string, SchemaObject>>> = {
  VALIDATION_ERROR: { errors: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } }, description: 'VALIDATION_ERROR: the messages of each refused field' } },
  OUTBOUND_REFUSED: { reason: { type: 'string', enum: ['ADDRESS', 'PORT', 'SCHEME', 'CREDENTIALS', 'INVALID_URL', 'URL_TOO_LONG'] } },
  RATE_LIMIT: { retryAfter: RETRY_AFTER },
  OTP_TOO_SOON: { retryAfter: RETRY_AFTER },
  OTP_LOCKED: { retryAfter: RETRY_AFTER, lockedUntil: LOCKED_UNTIL },
  OTP_SEND_LIMIT: { retryAfter: RETRY_AFTER, lockedUntil: LOCKED_UNTIL },
  EMAIL_SEND_FAILED: { retryAfter: RETRY_AFTER },
  SERVICE_UNAVAILABLE: {
    retryAfter: RETRY_AFTER,
    data: { allOf: [{ $ref: getSchemaPath('ReadinessDto') }], description: 'GET /api/health only: the readiness report' },
  },
  NICKNAME_REQUIRED: { verifyToken: { type: 'string', description: 'NICKNAME_REQUIRED: send it back with the nickname (instead of the code, which it replaces)' } },
  RESYNC_REQUIRED: { fromSeq: { type: 'integer', description: 'RESYNC_REQUIRED: the current position; reload state over HTTP, then go on from it' } },
  PREKEY_ID_TAKEN: { keyIds: { type: 'array', items: { type: 'integer' }, description: 'PREKEY_ID_TAKEN: the ids already stored with another public key, ascending' } },
  INTERNAL_ERROR: { requestId: { type: 'string', description: 'INTERNAL_ERROR: the request id the server logged the fault with' } },
};

/** The documented error envelope of the codes answered with one status. */
function errorBody(list: ErrorCode[]): { description: string; schema: SchemaObject } {
  return {
    description: list.map(describeCode).join('; '),
    schema: {
      type: 'object',
      required: ['success', 'code', 'message'],
      properties: {
        success: { type: 'boolean', enum: [false] },
        code: codeSchema(list),
        message: { type: 'string' },
        ...Object.assign({}, ...list.map((code) => ERROR_DETAILS[code] ?? {})),
      },
    },
  };
}

/** errorBody as an OpenAPI response object (what ApiResponse writes into the document). */
function errorResponse(list: ErrorCode[]): { description: string; content: Record<string, { schema: SchemaObject }> } {
  const { description, schema } = errorBody(list);
  return { description, content: { 'application/json': { schema } } };
}

function describeCode(code: ErrorCode): string {
  const qualified = QUALIFIED_CODES[code];
  return qualified ? `\`${qualified.form}\`: ${ERROR_CODES[code].message} (${qualified.detail})` : `\`${code}\`: ${ERROR_CODES[code].message}`;
}

/** The codes as sent: the plain ones by value, a qualified one as a string starting with `<code>:`. */
function codeSchema(list: ErrorCode[]): SchemaObject {
  const plain = list.filter((c) => !QUALIFIED_CODES[c]);
  const qualified = list.filter((c) => QUALIFIED_CODES[c]);
  if (!qualified.length) return { type: 'string', enum: plain };
  return {
    type: 'string',
    oneOf: [...(plain.length ? [{ type: 'string', enum: plain }] : []), ...qualified.map((c) => ({ type: 'string', pattern: `^${c}:`, description: QUALIFIED_CODES[c]!.form }))],
  };
}

/**
 * Serves the OpenAPI document at `/api/docs` (and `/api/docs-json`). `extraModels` adds
 * schemas no route names (e.g. socket payloads); `beside` gets the document to serve more next
 * to it (the AsyncAPI one), before the UI takes the rest of `/api/docs/…`.
 */
export function setupApiDocs(app: INestApplication, options: { extraModels?: Array<Type<unknown>>; beside?: (document: OpenAPIObject) => void } = {}): void {
  const config = new DocumentBuilder()
    .setTitle('H2V Messenger API')
    .setVersion('1.1.0')
    .setDescription(
      'Every body is wrapped in the envelope `{success:true,data}` or `{success:false,code,message}`. ' +
        'Session routes take the `h2v_session` cookie or `Authorization: Bearer <token>`. ' +
        'A POST, PUT, PATCH or DELETE authenticated by the cookie must send `X-Requested-With: H2V` (else 403 `CSRF_REJECTED`), ' +
        'except the XHR upload `POST /api/upload` (`/api/upload/encrypted` needs it); Bearer requests need no such header. Realtime events travel on `/ws`.',
    )
    .addCookieAuth('h2v_session')
    .addBearerAuth()
    .build();
  const document = withApiRateLimit(withOpenApi30Nulls(SwaggerModule.createDocument(app, config, { extraModels: options.extraModels ?? [] })));
  options.beside?.(document);
  SwaggerModule.setup('api/docs', app, document, { jsonDocumentUrl: 'api/docs-json' });
}

/**
 * Every route under /api/ counts against a rate limit (RATE_LIMIT_API per address and route, the
 * sign-in code routes their own, and per-user budgets on top of some): each operation documents
 * 429 `RATE_LIMIT`, whether or not its @ApiErrors names it.
 */
function withApiRateLimit(document: OpenAPIObject): OpenAPIObject {
  const status = String(ERROR_CODES.RATE_LIMIT.status);
  for (const [path, item] of Object.entries(document.paths)) {
    if (!path.startsWith('/api/')) continue;
    for (const method of ['get', 'put', 'post', 'delete', 'patch'] as const) {
      const operation = item[method];
      if (!operation) continue;
      const existing = operation.responses[status] as { description?: string; content?: Record<string, { schema?: SchemaObject }> } | undefined;
      if (!existing) {
        operation.responses[status] = errorResponse(['RATE_LIMIT']);
        continue;
      }
      const schema = existing.content?.['application/json']?.schema as SchemaObject | undefined;
      const codeSchemaOf = schema?.properties?.code as SchemaObject | undefined;
      if (codeSchemaOf?.enum && !codeSchemaOf.enum.includes('RATE_LIMIT')) {
        codeSchemaOf.enum.push('RATE_LIMIT');
        Object.assign(schema!.properties!, ERROR_DETAILS.RATE_LIMIT);
        existing.description = `${existing.description ?? ''}; ${describeCode('RATE_LIMIT')}`;
      }
    }
  }
  return document;
}

/** A schema that admits null only (OpenAPI 3.0 has no `type: null`). */
const NULL_ONLY: SchemaObject = { type: 'object', nullable: true, enum: [null] };

/**
 * The nullable schemas in the form OpenAPI 3.0.3 validators read. `nullable` only adds null to
 * the `type` of its own schema object, so @nestjs/swagger's nullable reference, `{nullable,
 * type: object, allOf: [$ref]}`, still refuses null by its `allOf` (a chat without a message was
 * refused for its `lastMessage: null`): it becomes `{nullable, type: object, oneOf: [$ref, <null
 * only>]}` (null passes the type and the second branch alone; generators still read `nullable`).
 * And a nullable `enum` admits null only if it lists it: null is added.
 */
function withOpenApi30Nulls(document: OpenAPIObject): OpenAPIObject {
  // Values (enum, example, default) are data, except where the key names a property.
  const visit = (node: unknown, names = false): unknown => {
    if (Array.isArray(node)) return node.map((item) => visit(item));
    if (!node || typeof node !== 'object') return node;
    const schema = Object.fromEntries(
      Object.entries(node).map(([key, value]) => [key, !names && (key === 'enum' || key === 'example' || key === 'default') ? value : visit(value, !names && key === 'properties')]),
    );
    if (schema.nullable !== true) return schema;
    if (Array.isArray(schema.allOf) && schema.allOf.length === 1 && schema.allOf[0].$ref) {
      const { allOf, ...rest } = schema;
      return { ...rest, type: 'object', oneOf: [allOf[0], NULL_ONLY] };
    }
    if (Array.isArray(schema.enum) && !schema.enum.includes(null)) return { ...schema, enum: [...schema.enum, null] };
    return schema;
  };
  return { ...document, paths: visit(document.paths) as OpenAPIObject['paths'], components: visit(document.components) as OpenAPIObject['components'] };
}
