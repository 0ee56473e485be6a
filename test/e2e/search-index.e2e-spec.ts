import { connect, openDirect, send } from '../support/chats';
import { TEST_DATABASE_URL } from '../support/env';
import { eventually, signUp } from '../support/factories';
import { createTestApp, TestApp } from '../support/test-app';
import { SearchIndexUpkeep } from '../../src/messages/search-index-upkeep';

(TEST_DATABASE_URL ? describe : describe.skip)('full-text index upkeep (PostgreSQL)', () => {
  let t: TestApp;
  let pendingPages: () => Promise<number>;
  beforeAll(async () => {
    t = await createTestApp();
    await t.backend.sql('CREATE EXTENSION IF NOT EXISTS pgstattuple');
    pendingPages = async () => Number((await t.backend.sql(`SELECT pending_pages FROM pgstatginindex('messages_search_idx')`))[0].pending_pages);
  });
  afterAll(() => t.close());

  async function sendSome(words: string): Promise<{ chatId: string; auth: Record<string, string> }> {
    const [a, b] = await Promise.all([signUp(t), signUp(t)]);
    const chatId = await openDirect(t, a, b);
    const ws = await connect(t, a);
    for (let i = 0; i < 5; i++) await send(ws, chatId, `${words} ${i}`);
    ws.close();
    return { chatId, auth: a.auth };
  }

  it('merges the pending entries that sends leave, and search finds the messages after', async () => {
    const upkeep = t.app.get(SearchIndexUpkeep);
    upkeep.onModuleDestroy(); // no timer: only this test merges
    const { chatId, auth } = await sendSome('pendingword');
    expect(await pendingPages()).toBeGreaterThan(0);
    expect(await upkeep.run()).toBeGreaterThan(0);
    expect(await pendingPages()).toBe(0);
    const found = await t.http().get(`/api/chats/${chatId}/messages?q=pendingw`).set(auth).expect(200);
    expect(found.body.data.messages).toHaveLength(5);
  });

  it('merges them every few seconds by itself', async () => {
    t.app.get(SearchIndexUpkeep).onApplicationBootstrap();
    await sendSome('timedword');
    await eventually(async () => expect(await pendingPages()).toBe(0), 10_000);
  });
});
