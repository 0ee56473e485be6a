import Redis from 'ioredis';
import { createApp } from '../../src/bootstrap';
import { connect, openDirect, send } from '../support/chats';
import { databaseUrl, TEST_REDIS_URL } from '../support/env';
import { signUp } from '../support/factories';
import { createBackend, createTestApp, TestApp } from '../support/test-app';

/** The run's Redis with database `db` as the URL's path. */
const inDatabase = (db: number) => databaseUrl(TEST_REDIS_URL!, String(db));

/** The keys under `prefix` in the database `url` names, without the prefix. */
async function keysOf(url: string, prefix: string): Promise<string[]> {
  const client = new Redis(url);
  try {
    return (await client.keys(`${prefix}:*`)).map((key) => key.slice(prefix.length + 1));
  } finally {
    await client.quit();
  }
}

// A database of one Redis: a cluster has database 0 only (refused in its URL), the embedded mode no Redis.
(TEST_REDIS_URL ? describe : describe.skip)(`REDIS_URL naming a database${TEST_REDIS_URL ? '' : ' (skipped: REDIS_URL is unset)'}`, () => {
  let t: TestApp | undefined;
  let prefix = '';
  afterAll(async () => {
    await t?.close();
    // The backend deletes its keys in database 0; these are in 3.
    const client = new Redis(inDatabase(3));
    try {
      const keys = await client.keys(`${prefix}:*`);
      if (keys.length) await client.del(...keys);
    } finally {
      await client.quit();
    }
  });

  it('keeps the event log and the rate limits in that database, and a client resumes from its seq', async () => {
    t = await createTestApp({ env: { REDIS_URL: inDatabase(3) } });
    prefix = t.backend.env.REDIS_PREFIX!;
    const [a, b] = [await signUp(t), await signUp(t)];
    const direct = await openDirect(t, b, a);
    // a's position (read through ioredis), then a message to a (appended through the event log's own connection).
    const aws = await t.ws({ cookie: a.cookie });
    const { seq } = await aws.waitFor('auth:ok');
    const bws = await connect(t, b);
    const sent = await send(bws, direct, 'kept in database 3');
    const page = (await t.http().get(`/api/events?after=${seq}`).set(a.auth).expect(200)).body.data;
    expect(page.events.map((e: { event: string; payload: { id: string } }) => [e.event, e.payload.id])).toContainEqual(['message:new', sent.id]);

    const [there, elsewhere] = [await keysOf(inDatabase(3), prefix), await keysOf(TEST_REDIS_URL!, prefix)];
    expect(there).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`:log:${a.id}$`)), expect.stringMatching(/^rl:/)]));
    expect(elsewhere).toEqual([]);
    for (const ws of [aws, bws]) ws.close();
  });

  it('refuses to start on a database Redis does not have, saying so (instead of carrying on in database 0)', async () => {
    const backend = await createBackend();
    const app = await createApp({ env: { ...backend.env, REDIS_URL: inDatabase(99) } });
    try {
      await expect(app.init()).rejects.toThrow(/REDIS_URL names database 99, which Redis refuses \(ERR DB index is out of range\)/);
    } finally {
      await app.close();
      await backend.close();
    }
  });
});
