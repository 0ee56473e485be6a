import { JobQueue } from '../jobs/job-queue';
import { PresenceStore } from '../realtime/presence/presence-store';
import { MemoryPushGate } from './push-gate';
import { PushProcessor } from './push.processor';
import { Delivery, PushRecipient, PushRepository } from './push.repository';
import { PushOutcome, WebPushSender } from './web-push.sender';

const messageId = (n: number) => `01a22f83-0000-7000-8000-${String(n).padStart(12, '0')}`;
const [M1, M2] = [messageId(1), messageId(2)];

/** A chat whose newest unread message the fake repository serves; the sender records what it sent. */
function harness(options: { online?: string[]; outcome?: PushOutcome } = {}) {
  const chat = { seq: 1, text: 'm1' };
  let removed: string[] = [];
  const sent: string[] = [];
  const gate = new MemoryPushGate();
  const queued: Array<{ subscriptionId: string; chatId: string }> = [];
  const delivery = (): Delivery => ({
    userId: 'u',
    endpoint: 'https://push.example/x',
    p256dh: 'k',
    auth: 'a',
    origin: null,
    seq: String(chat.seq),
    message: { chatId: 'c', chatType: 'DIRECT', type: 'TEXT', text: chat.text, senderNickname: 'alice', senderFirstName: null, senderLastName: null, senderAvatar: null },
  });
  const repository = {
    recipients: async (): Promise<PushRecipient[]> => [{ subscriptionId: 's', userId: 'u', chatId: 'c' }],
    delivery: async () => (removed.includes('s') ? null : delivery()),
    removeSubscription: async (id: string) => void (removed = [...removed, id]),
  } as unknown as PushRepository;
  const presence = { online: async (ids: string[]) => new Set(ids.filter((id) => options.online?.includes(id))) } as unknown as PresenceStore;
  const jobs = { add: async (_name: string, data: { subscriptionId: string; chatId: string }) => void queued.push(data) } as unknown as JobQueue;
  let during: (() => Promise<void>) | null = null;
  const sender = {
    send: async (_sub: unknown, payload: string) => {
      sent.push(JSON.parse(payload).body);
      const hook = during;
      during = null;
      if (hook) await hook();
      return options.outcome ?? 'sent';
    },
  } as unknown as WebPushSender;
  const processor = new PushProcessor(repository, presence, gate, jobs, sender);
  return {
    processor,
    gate,
    chat,
    sent,
    queued,
    removed: () => removed,
    /** Runs `work` while the next notification is on its way. */
    whileSending: (work: () => Promise<void>) => (during = work),
  };
}

describe('PushProcessor', () => {
  it("reads a batch's recipients in one statement and one presence read, and claims each (subscription, chat) once", async () => {
    const asked: string[][] = [];
    const presenceAsked: string[][] = [];
    const queued: Array<{ subscriptionId: string; chatId: string }> = [];
    const repository = {
      recipients: async (ids: string[]): Promise<PushRecipient[]> => {
        asked.push(ids);
        return [
          { subscriptionId: 's1', userId: 'u1', chatId: 'c1' },
          { subscriptionId: 's2', userId: 'u2', chatId: 'c1' },
          { subscriptionId: 's1', userId: 'u1', chatId: 'c2' },
          { subscriptionId: 's3', userId: 'u3', chatId: 'c2' },
        ];
      },
    } as unknown as PushRepository;
    const presence = {
      online: async (ids: string[]) => {
        presenceAsked.push(ids);
        return new Set(['u3']);
      },
    } as unknown as PresenceStore;
    const jobs = { add: async (_name: string, data: { subscriptionId: string; chatId: string }) => void queued.push(data) } as unknown as JobQueue;
    const processor = new PushProcessor(repository, presence, new MemoryPushGate(), jobs, {} as WebPushSender);
    // A malformed id (the job's data comes from Redis) is left out, not sent to the database.
    await processor.fanOut({ messageIds: [M1, 'not-a-uuid', M2] });
    expect(asked).toEqual([[M1, M2]]);
    expect(presenceAsked).toEqual([['u1', 'u2', 'u3']]);
    expect(queued).toEqual([
      { subscriptionId: 's1', chatId: 'c1' },
      { subscriptionId: 's2', chatId: 'c1' },
      { subscriptionId: 's1', chatId: 'c2' },
    ]);
    // A job of the release before names one message.
    await processor.fanOut({ messageId: M1 });
    expect(asked).toEqual([[M1, M2], [M1]]);
    await processor.fanOut({ messageIds: ['nope'] });
    expect(asked).toHaveLength(2);
  });

  it('queues one delivery per pending (subscription, chat), and none for an online user', async () => {
    const h = harness();
    await h.processor.fanOut({ messageIds: [M1] });
    await h.processor.fanOut({ messageIds: [M2] });
    expect(h.queued).toEqual([{ subscriptionId: 's', chatId: 'c' }]);
    const online = harness({ online: ['u'] });
    await online.processor.fanOut({ messageIds: [M1] });
    expect(online.queued).toEqual([]);
  });

  it('sends once more, with the newest message, when messages came in while it was sending; then lets go', async () => {
    const h = harness();
    await h.processor.fanOut({ messageIds: [M1] });
    h.whileSending(async () => {
      for (const n of [2, 3, 4]) {
        Object.assign(h.chat, { seq: n, text: `m${n}` });
        await h.processor.fanOut({ messageIds: [messageId(n)] });
      }
    });
    await h.processor.deliver(h.queued[0]);
    expect(h.sent).toEqual(['m1', 'm4']);
    expect(h.queued).toHaveLength(1);
    // Released: the next message asks for a new delivery.
    expect(await h.gate.claim('s', 'c')).toBe(true);
  });

  it('sends nothing new when the claims that came in carried no newer message', async () => {
    const h = harness();
    await h.processor.fanOut({ messageIds: [M1] });
    h.whileSending(() => h.processor.fanOut({ messageIds: [M1] }));
    await h.processor.deliver(h.queued[0]);
    expect(h.sent).toEqual(['m1']);
  });

  it('deletes a subscription the push service no longer knows', async () => {
    const h = harness({ outcome: 'gone' });
    await h.processor.fanOut({ messageIds: [M1] });
    await h.processor.deliver(h.queued[0]);
    expect(h.removed()).toEqual(['s']);
    expect(await h.gate.claim('s', 'c')).toBe(true);
  });
});
