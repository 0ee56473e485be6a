import { applyDecorators, INestApplication, Type } from '@nestjs/common';
import { ApiExtraModels, ApiResponse, DocumentBuilder, OpenAPIObject, SchemaObject, SwaggerModule, getSchemaPath } from '@nestjs/swagger';
import { ERROR_CODES, ErrorCode, QUALIFIED_CODES } from '../errors';

/** Documents a route's success body inside the envelope: `{success:true, data: <type>}`. */
export function ApiEnvelope(type: Type<unknown> | null, options: { status?: number; isArray?: boolean; description?: string } = {}) {
  const data = type === null ? { type: 'object', nullable: true } : options.isArray ? { type: 'array', items: { $ref: getSchemaPath(type) } } : { $ref: getSchemaPath(type) };
  return applyDecorators(
    ...(type ? [ApiExtraModels(type)] : []),
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
        ...(list.includes('VALIDATION_ERROR') ? { errors: { type: 'object', additionalProperties: { type: 'array', items: { type: 'string' } } } } : {}),
        ...(list.includes('OUTBOUND_REFUSED') ? { reason: { type: 'string', enum: ['ADDRESS', 'PORT', 'SCHEME', 'CREDENTIALS', 'INVALID_URL', 'URL_TOO_LONG'] } } : {}),
        ...(list.includes('RATE_LIMIT') ? { retryAfter: { type: 'integer', description: 'seconds, as the Retry-After header says' } } : {}),
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
  const document = withApiRateLimit(SwaggerModule.createDocument(app, config, { extraModels: options.extraModels ?? [] }));
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
      const existing = operation.responses[status] as { description?: string; content?: Record<string, { schema?: { properties?: { code?: SchemaObject } } }> } | undefined;
      if (!existing) {
        operation.responses[status] = errorResponse(['RATE_LIMIT']);
        continue;
      }
      const codeSchemaOf = existing.content?.['application/json']?.schema?.properties?.code;
      if (codeSchemaOf?.enum && !codeSchemaOf.enum.includes('RATE_LIMIT')) {
        codeSchemaOf.enum.push('RATE_LIMIT');
        existing.description = `${existing.description ?? ''}; ${describeCode('RATE_LIMIT')}`;
      }
    }
  }
  return document;
}
