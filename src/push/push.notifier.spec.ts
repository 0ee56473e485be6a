import { AppConfig } from '../core/config/app-config';
import { JobQueue } from '../jobs/job-queue';
import { FAN_OUT_WINDOW_MS, MAX_FAN_OUT_MESSAGES, MAX_PENDING_MESSAGES, PushNotifier } from './push.notifier';

/** A queue whose adds are recorded and answered when the test says so. */
function harness(push: object | null = {}) {
  const jobs: Array<{ name: string; data: { messageIds: string[] } }> = [];
  const answers: Array<(error?: Error) => void> = [];
  const queue = {
    add: (name: string, data: { messageIds: string[] }) =>
      new Promise<void>((resolve, reject) => {
        jobs.push({ name, data });
        answers.push((error) => (error ? reject(error) : resolve()));
      }),
  } as unknown as JobQueue;
  const notifier = new PushNotifier({ values: { push } } as unknown as AppConfig, queue);
  const batches = () => jobs.map((j) => j.data.messageIds);
  return { notifier, jobs, batches, answer: (error?: Error) => answers.shift()!(error) };
}

const elapse = (ms: number) => jest.advanceTimersByTimeAsync(ms);

describe('PushNotifier', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it(`queues the messages stored within ${FAN_OUT_WINDOW_MS} ms as one fan-out, and those stored while it is being queued as the next`, async () => {
    const h = harness();
    h.notifier.messageStored('a');
    await elapse(FAN_OUT_WINDOW_MS - 1);
    h.notifier.messageStored('b');
    expect(h.jobs).toEqual([]);
    await elapse(1);
    expect(h.jobs).toEqual([{ name: 'push', data: { messageIds: ['a', 'b'] } }]);
    h.notifier.messageStored('c');
    await elapse(FAN_OUT_WINDOW_MS);
    h.notifier.messageStored('d');
    // One job on its way at a time.
    expect(h.batches()).toEqual([['a', 'b']]);
    h.answer();
    await elapse(FAN_OUT_WINDOW_MS - 1);
    expect(h.batches()).toEqual([['a', 'b']]);
    await elapse(1);
    expect(h.batches()).toEqual([['a', 'b'], ['c', 'd']]);
    h.answer();
    // Idle again: the next message opens a window of its own.
    await elapse(1_000);
    h.notifier.messageStored('e');
    await elapse(FAN_OUT_WINDOW_MS);
    expect(h.batches()).toEqual([['a', 'b'], ['c', 'd'], ['e']]);
  });

  it(`cuts a batch at ${MAX_FAN_OUT_MESSAGES} messages, and queues a full one without waiting`, async () => {
    const h = harness();
    const ids = Array.from({ length: 2 * MAX_FAN_OUT_MESSAGES + 3 }, (_, i) => `m${i}`);
    for (const id of ids) h.notifier.messageStored(id);
    await elapse(FAN_OUT_WINDOW_MS);
    h.answer();
    await elapse(0);
    expect(h.batches()).toEqual([ids.slice(0, MAX_FAN_OUT_MESSAGES), ids.slice(MAX_FAN_OUT_MESSAGES, 2 * MAX_FAN_OUT_MESSAGES)]);
    h.answer();
    await elapse(FAN_OUT_WINDOW_MS);
    expect(h.batches()[2]).toEqual(ids.slice(2 * MAX_FAN_OUT_MESSAGES));
  });

  it(`keeps at most ${MAX_PENDING_MESSAGES} messages waiting while the queue does not answer: the rest get no push`, async () => {
    const h = harness();
    const ids = Array.from({ length: MAX_PENDING_MESSAGES + MAX_FAN_OUT_MESSAGES + 10 }, (_, i) => `m${i}`);
    h.notifier.messageStored(ids[0]);
    await elapse(FAN_OUT_WINDOW_MS);
    // The first job's add hangs; everything after waits, up to the cap.
    for (const id of ids.slice(1)) h.notifier.messageStored(id);
    // The queue answers again: each job as it comes, until none comes.
    for (let answered = 0; answered < h.jobs.length; answered++) {
      h.answer();
      await elapse(FAN_OUT_WINDOW_MS);
    }
    expect(h.batches().flat()).toEqual(ids.slice(0, MAX_PENDING_MESSAGES + 1));
  });

  it('goes on after a batch could not be queued, and shutdown queues what is pending without waiting for its window', async () => {
    const h = harness();
    h.notifier.messageStored('a');
    await elapse(FAN_OUT_WINDOW_MS);
    h.answer(new Error('queue unavailable'));
    await elapse(0);
    h.notifier.messageStored('b');
    let down = false;
    const shutdown = h.notifier.beforeApplicationShutdown().then(() => (down = true));
    await elapse(0);
    expect(h.batches()).toEqual([['a'], ['b']]);
    expect(down).toBe(false);
    h.answer();
    await shutdown;
    expect(down).toBe(true);
  });

  it('once shutdown began, queues a message stored after it (a send the gateway lets finish) without waiting for a window', async () => {
    const h = harness();
    await h.notifier.beforeApplicationShutdown();
    h.notifier.messageStored('late');
    await elapse(0);
    expect(h.batches()).toEqual([['late']]);
    h.answer();
    await h.notifier.queued();
  });

  it('queues nothing when Web Push is off', async () => {
    const h = harness(null);
    h.notifier.messageStored('a');
    await elapse(FAN_OUT_WINDOW_MS);
    expect(h.jobs).toEqual([]);
    await h.notifier.beforeApplicationShutdown();
  });
});
