import Ajv, { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { randomUUID } from 'node:crypto';
import { connect, createGroup, openDirect, send } from '../support/chats';
import { signUp, uniqueEmail, uniqueNickname, TestUser } from '../support/factories';
import { Frame, WsClient } from '../support/ws-client';
import { createTestApp, TestApp } from '../support/test-app';

type Schema = Record<string, any>;

/**
 * Every object schema closed: a property the document does not name is a drift (a generated
 * client drops it, or a strict one refuses the body).
 */
function closed(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(closed);
  if (!node || typeof node !== 'object') return node;
  const schema = Object.fromEntries(Object.entries(node).map(([key, value]) => [key, key === 'enum' || key === 'const' ? value : closed(value)]));
  if (schema.properties && schema.additionalProperties === undefined) schema.additionalProperties = false;
  return schema;
}

/**
 * An OpenAPI 3.0.3 schema as JSON Schema, as the specification reads: `nullable: true` adds null
 * to `type` only where `type` is in the same schema object, and an `enum` admits null only if it
 * lists it. (So `nullable` beside a bare `allOf: [$ref]` admits no null.)
 */
function openApi30(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(openApi30);
  if (!node || typeof node !== 'object') return node;
  const { nullable, ...rest } = node as Schema;
  const schema = Object.fromEntries(Object.entries(rest).map(([key, value]) => [key, key === 'enum' || key === 'example' ? value : openApi30(value)]));
  if (nullable === true && typeof schema.type === 'string') schema.type = [schema.type, 'null'];
  return schema;
}

/** A validator of bodies and frames against one document's schemas, each object closed. */
function validatorOf(components: Record<string, Schema>, id: string, convert: (node: unknown) => unknown) {
  const ajv = new Ajv({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addFormat('int32', true).addFormat('int64', true).addFormat('double', true).addFormat('float', true).addFormat('binary', true);
  ajv.addSchema({ $id: id, components: { schemas: closed(convert(components)) } });
  const compiled = new Map<string, ValidateFunction>();
  return (schema: Schema, value: unknown, what: string): void => {
    const text = JSON.stringify(schema).replaceAll('"#/components/', `"${id}#/components/`);
    let validate = compiled.get(text);
    if (!validate) compiled.set(text, (validate = ajv.compile(closed(convert(JSON.parse(text))) as Schema)));
    if (!validate(value)) throw new Error(`${what} does not match its documented schema:\n${ajv.errorsText(validate.errors, { separator: '\n' })}\n${JSON.stringify(value)}`);
  };
}

/**
 * The OpenAPI document (/api/docs-json) and the AsyncAPI one (/api/docs/asyncapi.json) checked
 * against what the server really sends: real responses of a representative set of routes
 * (successes and the common refusals) and real socket frames, each validated with Ajv against the
 * schema the document gives for that route and status, or that event, with every object closed.
 * A generated client is built from these documents; a body they do not describe breaks it.
 */
describe('the API documents describe the real bodies and frames', () => {
  let t: TestApp;
  let openapi: Schema;
  let asyncapi: Schema;
  let checkOpenApi: ReturnType<typeof validatorOf>;
  let checkAsyncApi: ReturnType<typeof validatorOf>;
  const sockets: WsClient[] = [];

  beforeAll(async () => {
    // A short event log, for RESYNC_REQUIRED.
    t = await createTestApp({ env: { EVENT_LOG_MAX_EVENTS: '10' } });
    openapi = (await t.http().get('/api/docs-json').expect(200)).body;
    asyncapi = (await t.http().get('/api/docs/asyncapi.json').expect(200)).body;
    checkOpenApi = validatorOf(openapi.components.schemas, 'openapi.json', openApi30);
    checkAsyncApi = validatorOf(asyncapi.components.schemas, 'asyncapi.json', (node) => node);
  });
  afterAll(async () => {
    for (const ws of sockets) ws.close();
    await t.close();
  });

  const operation = (method: string, path: string) => {
    const op = openapi.paths[path]?.[method];
    if (!op) throw new Error(`${method.toUpperCase()} ${path} is not documented`);
    return op;
  };

  /** The response as documented for its route and status. */
  function expectDocumented(method: string, path: string, res: { status: number; body: unknown }): void {
    const response = operation(method, path).responses[String(res.status)];
    if (!response) throw new Error(`${method.toUpperCase()} ${path} answered ${res.status}, which is not documented: ${JSON.stringify(res.body)}`);
    checkOpenApi(response.content['application/json'].schema, res.body, `${method.toUpperCase()} ${path} ${res.status}`);
  }

  /** A request body as its route documents it (what a generated client would send). */
  function expectDocumentedRequest(method: string, path: string, body: unknown): void {
    checkOpenApi(operation(method, path).requestBody.content['application/json'].schema, body, `the request body of ${method.toUpperCase()} ${path}`);
  }

  /** A frame the server sent, as the AsyncAPI document describes that event (`event`, `payload` and `seq`). */
  function expectFrame(frame: Frame): void {
    const message = Object.entries(asyncapi.channels.socket.messages as Record<string, Schema>).find(([key, m]) => key.startsWith('out_') && m.name === frame.event)?.[1];
    if (!message) throw new Error(`the server sent ${frame.event}, which is not documented`);
    checkAsyncApi(message.payload, frame, `the ${frame.event} frame`);
  }

  const socket = async (user: TestUser): Promise<WsClient> => {
    const ws = await connect(t, user);
    sockets.push(ws);
    return ws;
  };
  const nextFrame = (ws: WsClient, event: string, predicate: (payload: any) => boolean = () => true) =>
    ws.waitForFrame((f) => f.event === event && predicate(f.payload), `'${event}'`);

  it('sign-up: send-otp, 422 NICKNAME_REQUIRED with its verifyToken, 422 VALIDATION_ERROR, 201 with the session', async () => {
    const email = uniqueEmail('docs');
    expectDocumented('post', '/api/auth/send-otp', await t.http().post('/api/auth/send-otp').send({ email }).expect(200));
    const code = await t.backend.smtp.code(email);
    const nicknameRequired = await t.http().post('/api/auth/verify-otp').send({ email, code }).expect(422);
    expect(nicknameRequired.body).toMatchObject({ code: 'NICKNAME_REQUIRED', verifyToken: expect.any(String) });
    expectDocumented('post', '/api/auth/verify-otp', nicknameRequired);
    expectDocumented('post', '/api/auth/verify-otp', await t.http().post('/api/auth/verify-otp').send({ email }).expect(422));
    const { verifyToken } = nicknameRequired.body;
    expectDocumented('post', '/api/auth/verify-otp', await t.http().post('/api/auth/verify-otp').send({ email, verifyToken, nickname: uniqueNickname() }).expect(201));
    expectDocumented('get', '/api/users/me', await t.http().get('/api/users/me').expect(401));
  });

  it('users: me, settings (read and written), blocked as ids and as users', async () => {
    const [a, b] = [await signUp(t), await signUp(t)];
    expectDocumented('get', '/api/users/me', await t.http().get('/api/users/me').set(a.auth).expect(200));
    expectDocumented('get', '/api/users/me/settings', await t.http().get('/api/users/me/settings').set(a.auth).expect(200));
    expectDocumented('put', '/api/users/me/settings', await t.http().put('/api/users/me/settings').set(a.auth).send({ locale: 'ru', showOnlineStatus: 'contacts' }).expect(200));
    expectDocumented('put', '/api/users/me/settings', await t.http().put('/api/users/me/settings').set(a.auth).send({ locale: null }).expect(200));
    expectDocumented('put', '/api/users/me/settings', await t.http().put('/api/users/me/settings').set(a.auth).send({ showOnlineStatus: 42 }).expect(422));
    expectDocumented('get', '/api/users/{id}', await t.http().get(`/api/users/${b.id}`).set(a.auth).expect(200));
    expectDocumented('get', '/api/users/{id}', await t.http().get(`/api/users/${randomUUID()}`).set(a.auth).expect(404));

    await t.http().post(`/api/users/${b.id}/block`).set(a.auth).expect((res) => expect(res.status).toBeLessThan(300));
    const ids = await t.http().get('/api/users/me/blocked').set(a.auth).expect(200);
    expect(ids.body.data).toEqual([b.id]);
    expectDocumented('get', '/api/users/me/blocked', ids);
    const full = await t.http().get('/api/users/me/blocked?full=1').set(a.auth).expect(200);
    expect(full.body.data).toEqual([expect.objectContaining({ id: b.id })]);
    expectDocumented('get', '/api/users/me/blocked', full);
    expectDocumented('get', '/api/users/me/blocked', await t.http().get('/api/users/me/blocked?full=maybe').set(a.auth).expect(422));
  });

  it('chats and messages: list, one chat, history, search, refusals', async () => {
    const [a, b, c] = [await signUp(t), await signUp(t), await signUp(t)];
    const direct = await openDirect(t, a, b);
    const group = await createGroup(t, a, [b, c], 'Documented');
    // A chat with no message (lastMessage null) beside chats with a reply and a draft.
    await openDirect(t, a, c);
    const ws = await socket(a);
    const first = await send(ws, direct, 'find me please');
    await send(ws, direct, 'a reply', { replyToId: first.id });
    await send(ws, group, 'hello group');
    await t.http().put(`/api/chats/${direct}/draft`).set(a.auth).send({ text: 'unsent' }).expect((res) => expect(res.status).toBeLessThan(300));

    expectDocumented('get', '/api/chats', await t.http().get('/api/chats').set(a.auth).expect(200));
    expectDocumented('get', '/api/chats/{id}', await t.http().get(`/api/chats/${direct}`).set(a.auth).expect(200));
    expectDocumented('get', '/api/chats/{id}', await t.http().get(`/api/chats/${group}`).set(b.auth).expect(200));
    expectDocumented('get', '/api/chats/{id}', await t.http().get(`/api/chats/${randomUUID()}`).set(a.auth).expect(404));
    expectDocumented('get', '/api/chats/{chatId}/messages', await t.http().get(`/api/chats/${direct}/messages`).set(b.auth).expect(200));
    expectDocumented('get', '/api/chats/{chatId}/messages', await t.http().get(`/api/chats/${direct}/messages?limit=nope`).set(b.auth).expect(422));
    expectDocumented('get', '/api/messages/search', await t.http().get('/api/messages/search?q=find').set(a.auth).expect(200));
  });

  it('reports: a body with null targets, as a generated client sends it; the report; a refusal', async () => {
    const [a, b] = [await signUp(t), await signUp(t)];
    const body = { targetUserId: b.id, targetMessageId: null, targetChatId: null, reason: 'SPAM', details: null };
    expectDocumentedRequest('post', '/api/reports', body);
    expectDocumented('post', '/api/reports', await t.http().post('/api/reports').set(a.auth).send(body).expect(201));
    expectDocumented('post', '/api/reports', await t.http().post('/api/reports').set(a.auth).send({ reason: 'SPAM' }).expect(422));
  });

  it('events: a page, and 410 RESYNC_REQUIRED with fromSeq when the log no longer holds the position', async () => {
    const [a, b] = [await signUp(t), await signUp(t)];
    const direct = await openDirect(t, a, b);
    const ws = await t.ws({ cookie: a.cookie });
    sockets.push(ws);
    const { seq } = await ws.waitFor('auth:ok');
    expectDocumented('get', '/api/events', await t.http().get(`/api/events?after=${seq}`).set(a.auth).expect(200));
    expectDocumented('get', '/api/events', await t.http().get('/api/events?after=x').set(a.auth).expect(422));
    // Twelve events for a: the log of ten no longer holds seq.
    for (let i = 0; i < 12; i++) await send(ws, direct, `message ${i}`);
    const gone = await t.http().get(`/api/events?after=${seq}`).set(a.auth).expect(410);
    expect(gone.body).toMatchObject({ code: 'RESYNC_REQUIRED', fromSeq: expect.any(Number) });
    expectDocumented('get', '/api/events', gone);
  });

  it('socket: auth:ok, presence:snapshot, message:new (and a resend without seq), chat:updated in full and for a pin, refusals', async () => {
    const [a, b] = [await signUp(t), await signUp(t)];
    const bws = await socket(b);
    const ws = await t.ws({ cookie: a.cookie });
    sockets.push(ws);
    expectFrame(await nextFrame(ws, 'auth:ok'));
    expectFrame(await nextFrame(ws, 'presence:snapshot'));
    const group = await createGroup(t, a, [b], 'Frames');
    expectFrame(await nextFrame(bws, 'chat:new'));

    const clientMessageId = randomUUID();
    ws.send('message:send', { chatId: group, text: 'hello', clientMessageId });
    const own = await nextFrame(ws, 'message:new', (p) => p.clientMessageId === clientMessageId);
    expect(own.seq).toEqual(expect.any(Number));
    expectFrame(own);
    expectFrame(await nextFrame(bws, 'message:new'));
    // The same clientMessageId again: the stored message, to this socket only, without seq.
    ws.send('message:send', { chatId: group, text: 'hello', clientMessageId });
    const resent = await nextFrame(ws, 'message:new', (p) => p.clientMessageId === clientMessageId);
    expect(resent.seq).toBeUndefined();
    expectFrame(resent);

    await t.http().patch(`/api/chats/${group}`).set(a.auth).send({ name: 'Renamed' }).expect(200);
    const renamed = await nextFrame(bws, 'chat:updated', (p) => p.name === 'Renamed');
    expect(renamed.payload).not.toHaveProperty('draft');
    expectFrame(renamed);
    await t.http().patch(`/api/chats/${group}/pin`).set(a.auth).send({ messageId: own.payload.id }).expect(200);
    const pinned = await nextFrame(bws, 'chat:updated', (p) => p.pinnedMessageId === own.payload.id && !('name' in p));
    expect(Object.keys(pinned.payload).sort()).toEqual(['id', 'pinnedMessageId']);
    expectFrame(pinned);

    ws.send('message:send', { chatId: randomUUID(), text: 'nowhere', clientMessageId: randomUUID() });
    const refused = await nextFrame(ws, 'message:send:error');
    expect(refused.payload).toMatchObject({ code: expect.any(String), clientMessageId: expect.any(String) });
    expectFrame(refused);
    ws.send('message:send', { chatId: group, text: 42, clientMessageId: randomUUID() });
    const invalid = await nextFrame(ws, 'message:send:error');
    expect(invalid.payload).toMatchObject({ code: 'VALIDATION_ERROR', errors: expect.any(Object) });
    expectFrame(invalid);
    ws.send('message:read', { chatId: 'not an id' });
    const error = await nextFrame(ws, 'error');
    expect(error.payload).toMatchObject({ code: 'VALIDATION_ERROR', errors: expect.any(Object) });
    expectFrame(error);
  });

  it('checks what it says: a body the document does not describe is refused', async () => {
    const a = await signUp(t);
    const me = await t.http().get('/api/users/me').set(a.auth).expect(200);
    expect(() => expectDocumented('get', '/api/users/me', { status: 200, body: { ...me.body, data: { ...me.body.data, surprise: 1 } } })).toThrow(/additional/);
    expect(() => expectDocumented('get', '/api/users/me', { status: 200, body: { ...me.body, data: { ...me.body.data, id: 7 } } })).toThrow(/must be string/);
    expect(() => expectFrame({ event: 'message:edited', payload: {} })).toThrow(/seq/);
  });
});
