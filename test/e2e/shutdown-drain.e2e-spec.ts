import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, openDirect, send } from '../support/chats';
import { TEST_REDIS_URL } from '../support/env';
import { signUp } from '../support/factories';
import { image } from '../support/media-fixtures';
import { createTestApp, TestApp, TestBackend } from '../support/test-app';
import { JobFunction, JobRegistry } from '../../src/jobs/job-registry';

/** The lines logged at error level or above (pino's 50, 60). */
const errorLines = (logs: string[]) => logs.filter((line) => (JSON.parse(line) as { level: number }).level >= 50);

/**
 * A graceful shutdown (a rolling deploy's SIGTERM; here the application closed in-process, as
 * exitOnSignals closes it) while work is in flight: what the instance took on is finished before
 * the database and Redis close under it. The apps share one backend; the first one's logs are
 * the process's (captureLogs), so every app's errors land in `logs`.
 */
describe('graceful shutdown drains the work in flight', () => {
  let backend: TestBackend;
  let logs: string[];
  /** The app each test closes; the next one starts on the same backend. */
  let t: TestApp;
  beforeAll(async () => {
    t = await createTestApp({ captureLogs: true });
    backend = t.backend;
    logs = t.logs;
  }, 60_000);
  afterAll(async () => {
    await t?.app.close();
    await backend?.close();
  });

  it('answers and publishes every message:send it stored before closing the sockets, and starts none once the close began', async () => {
    const [a, b] = [await signUp(t), await signUp(t)];
    const chatId = await openDirect(t, a, b);
    const [aws, bws] = [await connect(t, a), await connect(t, b)];
    // The chat's first message reveals it to b (chat:new): sent before, so the burst takes the plain way.
    const first = await send(aws, chatId, 'before the deploy');
    const lastSeq = (await bws.waitForFrame((f) => f.event === 'message:new' && f.payload.id === first.id, 'the first message')).seq!;

    // A burst of sends and the close a few milliseconds into it (what a reviewer saw lose every stored one).
    const ids = Array.from({ length: 20 }, () => randomUUID());
    for (const [i, clientMessageId] of ids.entries()) aws.send('message:send', { chatId, text: `burst ${i}`, clientMessageId });
    await sleep(5);
    const closing = (await backend.sql<{ now: string }>('SELECT now()::text AS now'))[0].now;
    await t.app.close();
    expect((await aws.closed).code).toBe(1001);
    await bws.closed;

    t = await createTestApp({ backend });
    const stored = await backend.sql<{ id: string; client_message_id: string }>('SELECT id, client_message_id FROM messages WHERE chat_id = $1 AND client_message_id = ANY($2)', [chatId, ids]);
    // The sends in progress at the close finished: the first frames came well before it.
    expect(stored.length).toBeGreaterThan(0);
    const storedIds = stored.map((row) => row.id).sort();
    // Acknowledged to the sender, and delivered live to the recipient, before their sockets closed.
    const acked = aws.received.filter((f) => f.event === 'message:new' && ids.includes(f.payload.clientMessageId)).map((f) => f.payload.id);
    expect(acked.sort()).toEqual(storedIds);
    expect(aws.received.filter((f) => f.event === 'message:send:error')).toEqual([]);
    const delivered = bws.received.filter((f) => f.event === 'message:new' && f.payload.id !== first.id).map((f) => f.payload.id);
    expect(delivered.sort()).toEqual(storedIds);
    if (TEST_REDIS_URL) {
      // And in the recipient's event log, where a device that was away finds them (embedded: the log dies with the process).
      const res = await t.http().get(`/api/events?after=${lastSeq}`).set(b.auth).expect(200);
      const logged = (res.body.data.events as Array<{ event: string; payload: { id: string } }>).filter((e) => e.event === 'message:new').map((e) => e.payload.id);
      expect(logged.sort()).toEqual(storedIds);
    }
    // Both went offline with the instance: their last seen is the shutdown's (embedded: nothing else would ever write it).
    const lastSeen = await backend.sql<{ id: string; seen: boolean }>('SELECT id, last_online_at >= $2::timestamptz AS seen FROM users WHERE id = ANY($1) ORDER BY id', [
      [a.id, b.id],
      closing,
    ]);
    expect(lastSeen.map((row) => row.seen)).toEqual([true, true]);
    // No frame started on a closed database ("Driver not Connected").
    expect(errorLines(logs)).toEqual([]);
  }, 60_000);

  it('lets a job that is running when the application closes finish before the database closes', async () => {
    const logged = logs.length;
    const user = await signUp(t);
    const registry = t.app.get(JobRegistry);
    const handler = registry.handler.bind(registry);
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    let outcome = 'not run';
    // The image-variants job of the upload below, held until the close is under way; then it reads and writes the database.
    jest.spyOn(registry, 'handler').mockImplementation((name: string): JobFunction => {
      if (name !== 'image-variants') return handler(name);
      return async (data) => {
        started();
        await sleep(400);
        return handler(name)(data).then(
          (result) => ((outcome = 'completed'), result),
          (error: Error) => {
            outcome = error.message;
            throw error;
          },
        );
      };
    });
    const { url } = (await t.http().post('/api/upload').set(user.auth).attach('file', await image('png', 640, 480), 'photo.png').expect(201)).body.data;
    await running;
    await t.app.close();
    expect(outcome).toBe('completed');

    t = await createTestApp({ backend });
    const [row] = await backend.sql<{ variants: string }>('SELECT variants FROM uploads WHERE stored_name = $1', [url.slice(url.lastIndexOf('/') + 1)]);
    expect(row.variants).toBe('ready');
    expect(errorLines(logs.slice(logged))).toEqual([]);
  }, 60_000);
});
