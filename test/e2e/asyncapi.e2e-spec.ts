import { Parser } from '@asyncapi/parser';
import { SERVER_EVENTS } from '../../src/docs/socket-events';
import { SocketHandlers } from '../../src/realtime/socket-handlers';
import { createTestApp, TestApp } from '../support/test-app';

/**
 * The AsyncAPI 3.0 description of `/ws` (issue 18): valid for the maintained AsyncAPI parser,
 * and exactly the events the gateway handles and the server sends.
 */
describe('GET /api/docs/asyncapi.json', () => {
  let t: TestApp;
  let doc: any;
  beforeAll(async () => {
    t = await createTestApp();
    doc = (await t.http().get('/api/docs/asyncapi.json').expect(200).expect('Content-Type', /json/)).body;
  });
  afterAll(() => t.close());

  const names = (action: 'send' | 'receive') =>
    Object.values(doc.operations as Record<string, any>)
      .filter((op) => op.action === action)
      .flatMap((op) => op.messages.map((m: { $ref: string }) => doc.channels.socket.messages[m.$ref.split('/').pop()!].name))
      .sort();

  it('is a valid AsyncAPI 3.0 document for the AsyncAPI parser', async () => {
    const { document, diagnostics } = await new Parser().parse(JSON.stringify(doc));
    const errors = diagnostics.filter((d) => d.severity === 0);
    expect(errors.map((e) => `${e.path.join('.')}: ${e.message}`)).toEqual([]);
    expect(document?.version()).toBe('3.0.0');
    expect(document?.channels().get('socket')?.address()).toBe('/ws');
    // The parser does check: a broken copy is refused.
    const broken = JSON.parse(JSON.stringify(doc));
    Object.values(broken.operations as Record<string, any>)[0].action = 'shout';
    expect((await new Parser().parse(JSON.stringify(broken))).diagnostics.filter((d) => d.severity === 0).length).toBeGreaterThan(0);
  });

  it('lists every frame the gateway handles, and `auth`, as received', () => {
    const handled = t.app.get(SocketHandlers).inbound().map((h) => h.event);
    expect(handled).toEqual(expect.arrayContaining(['message:send', 'message:read', 'typing:start', 'presence:away']));
    expect(names('receive')).toEqual(['auth', ...handled].sort());
  });

  it('lists every event the server sends (ClientEvents and the handlers\' error events) as sent', () => {
    const errorEvents = t.app.get(SocketHandlers).inbound().flatMap((h) => (h.errorEvent ? [h.errorEvent] : []));
    expect(names('send')).toEqual([...new Set([...Object.keys(SERVER_EVENTS), ...errorEvents])].sort());
  });

  it('describes seq on the logged events only, lastSeq on auth and the current position on auth:ok', () => {
    const frameOf = (event: string) => Object.values(doc.channels.socket.messages as Record<string, any>).find((m) => m.name === event).payload;
    for (const event of ['message:edited', 'chat:updated', 'reaction:added', 'message:read', 'draft:updated', 'keys:low']) {
      expect(frameOf(event).required).toEqual(['event', 'seq']);
      expect(frameOf(event).properties.seq.type).toBe('integer');
    }
    // The answer to a retried message:send goes to the retrying socket only, unlogged: seq is optional there, and says so.
    expect(frameOf('message:new').required).toEqual(['event']);
    expect(frameOf('message:new').properties.seq).toMatchObject({ type: 'integer', description: expect.stringMatching(/absent on .*clientMessageId/) });
    for (const event of ['typing:started', 'typing:stopped', 'user:online', 'user:offline', 'auth:ok', 'presence:snapshot', 'resync:required', 'error', 'message:send:error']) {
      expect(frameOf(event).properties.seq).toBeUndefined();
    }
    expect(frameOf('auth').properties.payload.properties.lastSeq.type).toEqual(['integer', 'null']);
    const authOk = doc.components.schemas[frameOf('auth:ok').properties.payload.$ref.split('/').pop()];
    expect(authOk.properties.seq.type).toEqual(['number', 'null']);
    expect(doc.info.description).toMatch(/typing:started, typing:stopped, user:online, user:offline/);
  });

  it('describes payloads from the code: inbound from the validation rules, outbound from the payload classes', () => {
    const schemaOf = (event: string) => Object.values(doc.channels.socket.messages as Record<string, any>).find((m) => m.name === event).payload.properties.payload;
    const resolve = (schema: any) => (schema.$ref ? doc.components.schemas[schema.$ref.split('/').pop()] : schema);
    const send = resolve(schemaOf('message:send'));
    expect(Object.keys(send.properties)).toEqual(expect.arrayContaining(['chatId', 'text', 'clientMessageId', 'ciphertext', 'mediaUrl']));
    const offline = resolve(schemaOf('user:offline'));
    expect(offline.properties.lastOnline.type).toEqual(['string', 'null']);
    expect(offline.required).toEqual(expect.arrayContaining(['userId', 'lastOnline']));
    const updated = schemaOf('chat:updated');
    // The whole chat without the draft, or only the pinned message: each closed, so that exactly one matches.
    expect(updated.oneOf.map((s: any) => s.$ref.split('/').pop())).toEqual(['ChatUpdateDto', 'PinnedMessageUpdate']);
    const [whole, pinned] = updated.oneOf.map(resolve);
    expect(whole.properties.draft).toBeUndefined();
    expect(whole.required).toEqual(expect.arrayContaining(['id', 'members', 'lastMessage']));
    expect([whole.additionalProperties, pinned.additionalProperties]).toEqual([false, false]);
    expect(resolve(schemaOf('user:updated')).required).toEqual(['id']);
  });
});
