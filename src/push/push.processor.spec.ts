import { JobQueue } from '../jobs/job-queue';
import { PresenceStore } from '../realtime/presence/presence-store';
import { MemoryPushGate } from './push-gate';
import { PushProcessor } from './push.processor';
import { Delivery, PushRecipient, PushRepository } from './push.repository';
import { PushOutcome, WebPushSender } from './web-push.sender';

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
  it('queues one delivery per pending (subscription, chat), and none for an online user', async () => {
    const h = harness();
    await h.processor.fanOut({ messageId: 'm1' });
    await h.processor.fanOut({ messageId: 'm2' });
    expect(h.queued).toEqual([{ subscriptionId: 's', chatId: 'c' }]);
    const online = harness({ online: ['u'] });
    await online.processor.fanOut({ messageId: 'm1' });
    expect(online.queued).toEqual([]);
  });

  it('sends once more, with the newest message, when messages came in while it was sending; then lets go', async () => {
    const h = harness();
    await h.processor.fanOut({ messageId: 'm1' });
    h.whileSending(async () => {
      for (const n of [2, 3, 4]) {
        Object.assign(h.chat, { seq: n, text: `m${n}` });
        await h.processor.fanOut({ messageId: `m${n}` });
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
    await h.processor.fanOut({ messageId: 'm1' });
    h.whileSending(() => h.processor.fanOut({ messageId: 'm1-again' }));
    await h.processor.deliver(h.queued[0]);
    expect(h.sent).toEqual(['m1']);
  });

  it('deletes a subscription the push service no longer knows', async () => {
    const h = harness({ outcome: 'gone' });
    await h.processor.fanOut({ messageId: 'm1' });
    await h.processor.deliver(h.queued[0]);
    expect(h.removed()).toEqual(['s']);
    expect(await h.gate.claim('s', 'c')).toBe(true);
  });
});
