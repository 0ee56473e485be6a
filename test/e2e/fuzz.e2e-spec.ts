import { DiscoveryService, MetadataScanner } from '@nestjs/core';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { ERROR_CODES } from '../../src/core/errors';
import { CloseCode } from '../../src/realtime/client-events';
import { SOCKET_EVENT, SocketEventMetadata } from '../../src/realtime/on-socket-event.decorator';
import { SocketHandlers } from '../../src/realtime/socket-handlers';
import { connect, createGroup, openDirect, send } from '../support/chats';
import { signUp, TestUser } from '../support/factories';
import {
  anyJson,
  encodeLoosely,
  faultLines,
  fieldValue,
  fromSchema,
  fromValidators,
  FUZZ_RUNS,
  FUZZ_SEED,
  FUZZ_TIMEOUT_MS,
  FuzzPool,
  hostileShape,
  hostileString,
  objectOf,
  pathParam,
} from '../support/fuzz';
import { image } from '../support/media-fixtures';
import { createTestApp, TestApp } from '../support/test-app';
import { Frame, WsClient } from '../support/ws-client';

/**
 * Every route and every socket event, with and without a session, fed generated input: shaped
 * like what it expects (so much of it reaches the services and the database) and hostile (NUL,
 * lone surrogates, deep nesting, prototype keys, wrong shapes). Whatever comes in, the answer is
 * below 500 and an error is the envelope with a code, and nothing is logged as a fault.
 */
const ROUTES = [
  'GET /health',
  'GET /api/health',
  'GET /metrics',
  'POST /api/auth/send-otp',
  'POST /api/auth/verify-otp',
  'GET /api/auth/sessions',
  'DELETE /api/auth/sessions/:id',
  'GET /api/users/me',
  'PATCH /api/users/me',
  'GET /api/users/search',
  'GET /api/users/me/settings',
  'PUT /api/users/me/settings',
  'GET /api/users/me/blocked',
  'GET /api/users/public/:nickname',
  'GET /api/users/:id',
  'POST /api/users/:id/block',
  'DELETE /api/users/:id/block',
  'GET /api/chats',
  'GET /api/events',
  'POST /api/chats/saved',
  'POST /api/chats/direct',
  'POST /api/chats/secret',
  'POST /api/chats/group',
  'GET /api/chats/:id',
  'PATCH /api/chats/:id',
  'DELETE /api/chats/:id',
  'PATCH /api/chats/:id/pin',
  'PATCH /api/chats/:id/members/:userId/role',
  'PATCH /api/chats/:id/mute',
  'PATCH /api/chats/:id/pin-chat',
  'PATCH /api/chats/:id/archive',
  'PUT /api/chats/:id/draft',
  'DELETE /api/chats/:id/draft',
  'POST /api/chats/:id/members',
  'POST /api/chats/:id/invite',
  'GET /api/chats/:id/invite',
  'DELETE /api/chats/invite/:linkId',
  'GET /api/chats/join/:code',
  'POST /api/chats/join/:code',
  'GET /api/chats/:chatId/messages',
  'GET /api/chats/:chatId/messages/around',
  'GET /api/chats/:chatId/shared',
  'GET /api/chats/export/all',
  'GET /api/chats/:id/export',
  'GET /api/messages/search',
  'PATCH /api/messages/:id',
  'POST /api/messages/:id/read',
  'POST /api/messages/:id/reactions',
  'DELETE /api/messages/:id/reactions/:emoji',
  'DELETE /api/messages/:id',
  'POST /api/messages/:id/hide',
  'POST /api/keys/bundle',
  'GET /api/keys/bundle/:userId',
  'GET /api/keys/has-bundle/:userId',
  'POST /api/keys/replenish',
  'GET /api/keys/count',
  'GET /api/contacts',
  'GET /api/contacts/check/:id',
  'POST /api/contacts/:contactId',
  'DELETE /api/contacts/:contactId',
  'POST /api/upload',
  'POST /api/upload/avatar',
  'POST /api/upload/encrypted',
  'POST /api/reports',
  'GET /uploads/:name',
  'GET /uploads/medium/:name',
  'GET /uploads/thumbs/:name',
  'GET /api/link-preview',
  'GET /api/link-preview/proxy',
  'GET /api/push/vapid-key',
  'POST /api/users/me/device-token',
  'DELETE /api/users/me/device-token',
  // These end the fixture's membership, session or account; fresh fixtures follow them.
  'DELETE /api/chats/:id/members/:userId',
  'DELETE /api/chats/:id/leave',
  'DELETE /api/auth/sessions',
  'POST /api/auth/logout',
  'DELETE /api/users/me',
];

/**
 * Routes left out of the OpenAPI document on purpose (@ApiExcludeController): stored files
 * (addressed by the URLs the API hands out) and the Prometheus scrape endpoint.
 */
const UNDOCUMENTED = ['GET /metrics', 'GET /uploads/:name', 'GET /uploads/medium/:name', 'GET /uploads/thumbs/:name'];

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/**
 * Node's HTTP parser answers a request head over 16 KiB with a bare 431 before the app sees it,
 * so generated URLs stay well below that.
 */
const MAX_URL_LENGTH = 8 * 1024;

/** Inbound socket events with a handler; `auth` is the gateway's own and is fuzzed before authentication. */
const SOCKET_EVENTS = ['message:send', 'message:read', 'message:listened', 'typing:start', 'typing:stop', 'presence:ping', 'presence:away', 'presence:back'];

interface Fixture {
  user: TestUser;
  other: TestUser;
  pool: FuzzPool;
}

interface HttpCase {
  auth: boolean;
  params: string[];
  query: Record<string, unknown>;
  body: unknown;
  upload: { bytes: Uint8Array; filename: string } | null;
}

type OpenApi = ReturnType<typeof SwaggerModule.createDocument>;

describe('fuzz: never 5xx, always the envelope', () => {
  let t: TestApp;
  let doc: OpenApi;
  let fixture: Fixture | null = null;

  beforeAll(async () => {
    // Log capture needs the first app of its file (the process keeps the first app's logger).
    t = await createTestApp({ captureLogs: true });
    doc = SwaggerModule.createDocument(t.app, new DocumentBuilder().build());
  });
  afterAll(async () => {
    const faults = faultLines(t.logs);
    await t.close();
    expect(faults).toEqual([]);
  });

  /** Users, chats, a message, a stored upload; rebuilt when a destructive route has ended the session. */
  async function ensureFixture(): Promise<Fixture> {
    if (fixture && (await t.http().get('/api/users/me').set(fixture.user.auth)).status === 200) return fixture;
    const [user, other] = [await signUp(t), await signUp(t)];
    const directId = await openDirect(t, user, other);
    const groupId = await createGroup(t, user, [other], 'Fuzz group');
    const ws = await connect(t, user);
    const messageId = (await send(ws, directId, 'fuzz target')).id;
    ws.close();
    const upload = await t.http().post('/api/upload').set(user.auth).attach('file', await image('png', 8, 8), 'dot.png').expect(201);
    const name = String(upload.body.data.url).split('/').pop()!;
    const sessions = await t.http().get('/api/auth/sessions').set(user.auth).expect(200);
    const ids = [user.id, other.id, directId, groupId, messageId, ...sessions.body.data.map((s: { id: string }) => s.id), randomUUID()];
    fixture = { user, other, pool: { ids, emails: [user.email, other.email, 'fuzz@example.com'], names: [name, `x${name}`, 'missing.webp'] } };
    return fixture;
  }

  it('covers every route the app serves and every socket event it handles', () => {
    const express = t.app.getHttpAdapter().getInstance();
    const served = (express.router.stack as Array<{ route?: { path: string; methods: Record<string, boolean> } }>)
      .filter((layer) => layer.route && !layer.route.path.startsWith('/api/docs') && !layer.route.path.includes('*'))
      .flatMap((layer) => Object.keys(layer.route!.methods).map((method) => `${method.toUpperCase()} ${layer.route!.path}`));
    expect([...served].sort()).toEqual([...ROUTES].sort());

    const discovery = t.app.get(DiscoveryService, { strict: false });
    const scanner = new MetadataScanner();
    const handled = discovery.getProviders().flatMap((wrapper) => {
      const prototype = wrapper.instance && typeof wrapper.instance === 'object' ? Object.getPrototypeOf(wrapper.instance) : null;
      if (!prototype) return [];
      return scanner
        .getAllMethodNames(prototype)
        .map((method) => Reflect.getMetadata(SOCKET_EVENT, prototype[method]) as SocketEventMetadata | undefined)
        .filter((meta): meta is SocketEventMetadata => !!meta && !meta.event.startsWith('$'))
        .map((meta) => meta.event);
    });
    expect([...new Set(handled)].sort()).toEqual([...SOCKET_EVENTS].sort());
  });

  it('documents every route but the deliberately undocumented ones at /api/docs-json, with its method, and nothing else', async () => {
    const served = (await t.http().get('/api/docs-json').expect(200)).body as OpenApi;
    const documented = Object.entries(served.paths).flatMap(([path, item]) =>
      Object.keys(item)
        .filter((key) => HTTP_METHODS.includes(key))
        .map((method) => `${method.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`),
    );
    expect([...documented].sort()).toEqual(ROUTES.filter((route) => !UNDOCUMENTED.includes(route)).sort());
  });

  describe.each(ROUTES)('%s', (route) => {
    const [method, path] = route.split(' ');

    it('answers every generated request below 500, errors in the envelope, with no fault logged', async () => {
      const { user, pool } = await ensureFixture();
      const operation = (doc.paths[path.replace(/:(\w+)/g, '{$1}')] as Record<string, any> | undefined)?.[method.toLowerCase()];
      const components = (doc.components?.schemas ?? {}) as Record<string, any>;
      const queryParams: Array<{ name: string; schema: any }> = (operation?.parameters ?? []).filter((p: { in: string }) => p.in === 'query');
      const bodySchema = operation?.requestBody?.content?.['application/json']?.schema;
      const multipart = !!operation?.requestBody?.content?.['multipart/form-data'];
      const pathNames = [...path.matchAll(/:(\w+)/g)].map((m) => m[1]);

      const cases: fc.Arbitrary<HttpCase> = fc.record({
        auth: fc.boolean(),
        params: fc.tuple(...pathNames.map(() => pathParam(pool))),
        query: fc.tuple(objectOf(Object.fromEntries(queryParams.map((p) => [p.name, fromSchema(p.schema, components, pool, p.name)]))), fc.dictionary(hostileString, hostileString, { maxKeys: 1 })).map(
          ([known, extra]) => ({ ...extra, ...(known && typeof known === 'object' && !Array.isArray(known) ? known : {}) }),
        ),
        body: fc.oneof({ weight: 1, arbitrary: fc.constant(undefined) }, { weight: 6, arbitrary: bodySchema ? fieldValue(fromSchema(bodySchema, components, pool)) : anyJson }),
        upload: multipart
          ? fc.option(
              fc.record({
                bytes: fc.tuple(fc.constantFrom('', '\x89PNG\r\n\x1a\n', '\xff\xd8\xff', 'GIF89a', '%PDF-1.4', 'PK\x03\x04'), fc.uint8Array({ maxLength: 64 })).map(([magic, rest]) => new Uint8Array([...Buffer.from(magic, 'latin1'), ...rest])),
                filename: fc.oneof(fc.string({ maxLength: 30 }), hostileString.map((s) => `${s}.png`)),
              }),
            )
          : fc.constant(null),
      });

      await fc.assert(
        fc.asyncProperty(cases, async (input) => {
          const url = path.replace(/:(\w+)/g, (_m, name: string) => encodeLoosely(input.params[pathNames.indexOf(name)] ?? ''));
          const query = Object.entries(input.query)
            .flatMap(([key, value]) => (Array.isArray(value) ? value : [value]).map((v) => `${encodeLoosely(key)}=${encodeLoosely(typeof v === 'string' ? v : JSON.stringify(v) ?? '')}`))
            .join('&');
          let req = (t.http() as any)[method.toLowerCase()]((query ? `${url}?${query}` : url).slice(0, MAX_URL_LENGTH));
          if (input.auth) req = req.set(user.auth);
          if (input.upload) {
            req = req.attach('file', Buffer.from(input.upload.bytes), { filename: input.upload.filename, contentType: 'application/octet-stream' });
          } else if (input.body !== undefined) {
            req = req.set('Content-Type', 'application/json').send(JSON.stringify(input.body) ?? 'null');
          }
          const logsBefore = t.logs.length;
          const res = await req;
          if (res.status >= 500) throw new Error(`answered ${res.status}: ${JSON.stringify(res.body)}`);
          if (res.status >= 400) expect(res.body).toMatchObject({ success: false, code: expect.any(String), message: expect.any(String) });
          // A download (a file, the data export) is the file itself, JSON or not: no envelope.
          else if (res.type === 'application/json' && !String(res.headers['content-disposition'] ?? '').startsWith('attachment')) expect(res.body).toMatchObject({ success: true });
          expect(faultLines(t.logs.slice(logsBefore))).toEqual([]);
        }),
        { numRuns: FUZZ_RUNS, seed: FUZZ_SEED },
      );
    }, FUZZ_TIMEOUT_MS);
  });

  describe.each(SOCKET_EVENTS)('socket event %s', (event) => {
    it('answers every generated frame of a signed-in socket with a 4xx error event or nothing, and keeps the socket', async () => {
      const { user, pool } = await ensureFixture();
      const [handler] = t.app.get(SocketHandlers, { strict: false }).get(event);
      const payloads = handler.dto ? fromValidators(handler.dto, pool) : anyJson;
      const ws = await connect(t, user);
      let sentinel = 0;
      try {
        await fc.assert(
          fc.asyncProperty(frameFor(event, payloads), async (frame) => {
            const logsBefore = t.logs.length;
            const replies = await exchange(ws, frame, `fuzz:sentinel:${++sentinel}`);
            for (const reply of replies) expectWellFormedError(reply);
            expect(faultLines(t.logs.slice(logsBefore))).toEqual([]);
          }),
          { numRuns: FUZZ_RUNS, seed: FUZZ_SEED },
        );
      } finally {
        ws.close();
      }
    }, FUZZ_TIMEOUT_MS);
  });

  it('closes a socket that breaks the protocol (an oversize frame, invalid UTF-8, an unmasked frame) and logs no fault for it', async () => {
    const { user } = await ensureFixture();
    const logsBefore = t.logs.length;
    const oversize = await connect(t, user);
    oversize.sendRaw('x'.repeat(200_000));
    expect((await oversize.closed).code).toBe(1009);
    // Written under the client library: a text frame of invalid UTF-8 (masked, as a client must), then an unmasked one.
    const raw = (header: number[], payload: number[]) => Buffer.from([...header, ...payload]);
    for (const frame of [raw([0x81, 0x84, 0, 0, 0, 0], [0x7b, 0xff, 0xfe, 0x7d]), raw([0x81, 0x02], [0x7b, 0x7d])]) {
      const ws = await connect(t, user);
      (ws.socket as unknown as { _socket: { write(b: Buffer): void } })._socket.write(frame);
      expect([1002, 1006, 1007]).toContain((await ws.closed).code);
    }
    // A fault would be logged by now: the sockets closed after their errors were handled.
    expect(faultLines(t.logs.slice(logsBefore))).toEqual([]);
    const still = await connect(t, user);
    still.close();
  });

  it('answers every generated frame of a socket that has not signed in with a 4xx error, or closes it for a bad token', async () => {
    const { pool } = await ensureFixture();
    const events = fc.constantFrom('auth', ...SOCKET_EVENTS);
    const frames = events.chain((event) => frameFor(event, event === 'auth' ? objectOf({ token: hostileString }) : anyJson));
    await fc.assert(
      fc.asyncProperty(frames, async (frame) => {
        const logsBefore = t.logs.length;
        const ws = await t.ws();
        ws.sendRaw(frame);
        // A bad token is refused and the socket closed: after that nothing more can come.
        ws.send('auth', { token: pool.ids[0] });
        expect((await ws.closed).code).toBe(CloseCode.AuthFailed);
        for (const reply of ws.frames) expectWellFormedError(reply);
        expect(faultLines(t.logs.slice(logsBefore))).toEqual([]);
      }),
      { numRuns: FUZZ_RUNS, seed: FUZZ_SEED },
    );
  }, FUZZ_TIMEOUT_MS);
});

/** The text of a frame for `event`: usually `{event, payload}`, sometimes `data` (the legacy key), raw garbage or a wrong shape. */
function frameFor(event: string, payloads: fc.Arbitrary<unknown>): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 8, arbitrary: payloads.map((payload) => JSON.stringify({ event, payload })) },
    { weight: 1, arbitrary: payloads.map((data) => JSON.stringify({ event, data })) },
    { weight: 1, arbitrary: fc.oneof(hostileShape, anyJson).map((value) => JSON.stringify(value) ?? 'null') },
    { weight: 1, arbitrary: hostileString.map((event) => JSON.stringify({ event, payload: {} })) },
  );
}

/**
 * Sends a frame, then an unknown event as a sentinel: frames are handled in order, so every
 * reply to the first arrives before the sentinel's UNKNOWN_EVENT. Resolves the replies between.
 */
async function exchange(ws: WsClient, frame: string, sentinel: string): Promise<Frame[]> {
  ws.sendRaw(frame);
  ws.send(sentinel);
  await ws.waitFor('error', (p) => p?.code === 'UNKNOWN_EVENT' && String(p.message).includes(sentinel));
  return ws.frames.splice(0).filter((f) => f.event === 'error' || f.event.endsWith(':error'));
}

/** An error event carries a catalogue code of a client fault, never INTERNAL_ERROR. */
function expectWellFormedError(frame: Frame): void {
  if (frame.event !== 'error' && !frame.event.endsWith(':error')) return;
  expect(frame.payload).toMatchObject({ code: expect.any(String), message: expect.any(String) });
  const known = ERROR_CODES[frame.payload.code as keyof typeof ERROR_CODES];
  expect({ code: frame.payload.code, status: known?.status }).toEqual({ code: frame.payload.code, status: expect.any(Number) });
  expect(known.status).toBeLessThan(500);
}
