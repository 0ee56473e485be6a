import { AppConfig } from '../core/config/app-config';
import { Metrics } from '../core/metrics/metrics';
import { BatchItem, MessagesRepository, StoredMessage } from './messages.repository';
import { SendBatcher } from './send-batcher';
import { textDraft } from '../../test/support/drafts';

/** A repository whose batches stay open until the test commits them. */
function fakeRepository() {
  const batches: Array<{ texts: string[]; commit: () => void }> = [];
  const repository = {
    insertBatch: (items: BatchItem[]) =>
      new Promise<Array<StoredMessage | null>>((resolve) =>
        batches.push({
          texts: items.map((item) => item.draft.text!),
          commit: () => resolve(items.map((item) => ({ message: { chatId: item.draft.chatId, text: item.draft.text } }) as unknown as StoredMessage)),
        }),
      ),
  } as unknown as MessagesRepository;
  return { repository, batches };
}

const item = (chatId: string, text: string): BatchItem => ({ secret: false, draft: textDraft(chatId, 'sender', text) });

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('SendBatcher', () => {
  const config = { values: { databaseUrl: 'postgres://db', dbPoolSize: 8 } } as AppConfig; // two batches in flight

  it('writes a chat with one batch at a time: its later messages wait for the batch in flight, other chats do not', async () => {
    const { repository, batches } = fakeRepository();
    const batcher = new SendBatcher(repository, new Metrics(), config);
    const a1 = batcher.store(item('A', 'a1'));
    await turn();
    const rest = [batcher.store(item('A', 'a2')), batcher.store(item('B', 'b1')), batcher.store(item('A', 'a3'))];
    await turn();
    expect(batches.map((b) => b.texts)).toEqual([['a1'], ['b1']]);
    batches[0].commit();
    expect((await a1)?.message.text).toBe('a1');
    await turn();
    expect(batches.map((b) => b.texts)).toEqual([['a1'], ['b1'], ['a2', 'a3']]);
    batches[1].commit();
    batches[2].commit();
    expect((await Promise.all(rest)).map((stored) => stored?.message.text)).toEqual(['a2', 'b1', 'a3']);
  });


  it('writes each message of a refused batch alone, but none again after a lost connection (the batch may have committed)', async () => {
    const attempts: string[][] = [];
    const failing = (error: Error) =>
      ({
        insertBatch: async (items: BatchItem[]) => {
          attempts.push(items.map((i) => i.draft.text!));
          if (items.length > 1) throw error;
          return items.map((i) => ({ message: { chatId: i.draft.chatId, text: i.draft.text } }) as unknown as StoredMessage);
        },
      }) as unknown as MessagesRepository;
    const sendTwo = async (repository: MessagesRepository) => {
      const batcher = new SendBatcher(repository, new Metrics(), config);
      return Promise.allSettled([batcher.store(item('A', 'a1')), batcher.store(item('B', 'b1'))]);
    };
    // One bad row: PostgreSQL refused the statement (a unique violation), nothing was stored.
    const refused = await sendTwo(failing(Object.assign(new Error('duplicate key value'), { code: '23505' })));
    expect(refused.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(attempts).toEqual([['a1', 'b1'], ['a1'], ['b1']]);
    attempts.length = 0;
    // The connection went while the batch ran: each message fails, none is written again.
    const lost = await sendTwo(failing(new Error('Connection terminated unexpectedly')));
    expect(lost.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(attempts).toEqual([['a1', 'b1']]);
  });

  it('hands out each chat\'s publication turns in seq order, across batches', async () => {
    const { repository, batches } = fakeRepository();
    const batcher = new SendBatcher(repository, new Metrics(), config);
    const first = [batcher.store(item('A', 'a1')), batcher.store(item('B', 'b1')), batcher.store(item('A', 'a2'))];
    await turn();
    batches[0].commit();
    const [a1, b1, a2] = await Promise.all(first);
    const later = batcher.store(item('A', 'a3'));
    await turn();
    batches[1].commit();
    const a3 = (await later)!;
    const published: string[] = [];
    for (const [name, stored] of [['a3', a3], ['a2', a2!], ['b1', b1!], ['a1', a1!]] as const) {
      void stored.previousPublished.then(() => {
        published.push(name);
        stored.published();
      });
    }
    await turn();
    expect(published).toEqual(['b1', 'a1', 'a2', 'a3']);
  });

  it('writes the messages of a refused batch alone one after the other: the next starts only once the one before committed', async () => {
    const attempts: string[][] = [];
    const open: Array<() => void> = [];
    const repository = {
      insertBatch: (items: BatchItem[]) => {
        attempts.push(items.map((i) => i.draft.text!));
        if (items.length > 1) return Promise.reject(Object.assign(new Error('duplicate key value'), { code: '23505' }));
        return new Promise<Array<StoredMessage | null>>((resolve) =>
          open.push(() => resolve(items.map((i) => ({ message: { chatId: i.draft.chatId, text: i.draft.text } }) as unknown as StoredMessage))),
        );
      },
    } as unknown as MessagesRepository;
    const config = { values: { databaseUrl: 'postgres://db', dbPoolSize: 8 } } as AppConfig;
    const batcher = new SendBatcher(repository, new Metrics(), config);
    const sent = ['a1', 'a2', 'a3'].map((text) => batcher.store({ secret: false, draft: textDraft('A', 'sender', text) }));
    for (let i = 0; i < 5; i++) await turn();
    // a2 and a3 of the same chat must not race a1 for the chat's row (their seq would follow who locks first).
    expect(attempts).toEqual([['a1', 'a2', 'a3'], ['a1']]);
    open[0]();
    for (let i = 0; i < 5; i++) await turn();
    expect(attempts).toEqual([['a1', 'a2', 'a3'], ['a1'], ['a2']]);
    open[1]();
    for (let i = 0; i < 5; i++) await turn();
    open[2]();
    expect((await Promise.all(sent)).map((s) => s?.message.text)).toEqual(['a1', 'a2', 'a3']);
  });
});
