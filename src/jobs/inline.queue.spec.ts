import { InlineJobQueue } from './inline.queue';
import { JobPolicy } from './job-names';
import { NotAwaitedError, PermanentJobError, RetryLaterError, retryDelayMs } from './job-queue';
import { JobFunction, JobRegistry } from './job-registry';

/** A registry with hand-made jobs, so the runner's policy can be checked without Nest. */
function registry(jobs: Record<string, { policy: JobPolicy; handler: JobFunction }>): JobRegistry {
  return { policy: (name: string) => jobs[name].policy, handler: (name: string) => jobs[name].handler } as unknown as JobRegistry;
}

describe('InlineJobQueue', () => {
  it('runs at most the queue concurrency at once (media: 2)', async () => {
    let running = 0;
    let peak = 0;
    const handler: JobFunction = async () => {
      running++;
      peak = Math.max(peak, running);
      await new Promise((resolve) => setTimeout(resolve, 20));
      running--;
    };
    const queue = new InlineJobQueue(registry({ work: { policy: { queue: 'media', attempts: 1, backoffMs: 1, awaited: true }, handler } }));
    const jobs = await Promise.all(Array.from({ length: 6 }, () => queue.add('work' as never, {} as never)));
    expect(await Promise.all(jobs.map((j) => j.waitForOutcome(5000)))).toEqual(Array(6).fill('completed'));
    expect(peak).toBe(2);
  });

  it('retries with backoff until the attempts are spent, and stops at once on a permanent error', async () => {
    let calls = 0;
    const flaky: JobFunction = async () => {
      if (++calls < 3) throw new Error('try again');
    };
    const doomed: JobFunction = async () => {
      throw new PermanentJobError('no such mailbox');
    };
    let doomedCalls = 0;
    const queue = new InlineJobQueue(
      registry({
        flaky: { policy: { queue: 'email', attempts: 3, backoffMs: 1, awaited: true }, handler: flaky },
        doomed: { policy: { queue: 'email', attempts: 5, backoffMs: 1, awaited: true }, handler: () => (doomedCalls++, doomed(undefined)) },
      }),
    );
    expect(await (await queue.add('flaky' as never, {} as never)).waitForOutcome(5000)).toBe('completed');
    expect(calls).toBe(3);
    expect(await (await queue.add('doomed' as never, {} as never)).waitForOutcome(5000)).toBe('failed');
    expect(doomedCalls).toBe(1);
  });

  it('answers pending while a job is still trying, and dedupes by jobId', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let calls = 0;
    const queue = new InlineJobQueue(registry({ slow: { policy: { queue: 'email', attempts: 1, backoffMs: 1, awaited: true }, handler: async () => (calls++, gate) } }));
    const first = await queue.add('slow' as never, {} as never, { jobId: 'same' });
    const second = await queue.add('slow' as never, {} as never, { jobId: 'same' });
    expect(await first.waitForOutcome(30)).toBe('pending');
    release();
    expect(await second.waitForOutcome(1000)).toBe('completed');
    expect(calls).toBe(1);
  });

  it('refuses to wait for the outcome of a job whose policy is not awaited (BullMQ does not follow its queue), and still runs it', async () => {
    let ran = false;
    const queue = new InlineJobQueue(registry({ fire: { policy: { queue: 'push', attempts: 1, backoffMs: 1 }, handler: async () => void (ran = true) } }));
    const job = await queue.add('fire' as never, {} as never);
    await expect(job.waitForOutcome(1000)).rejects.toThrow(NotAwaitedError);
    await queue.drain(1000);
    expect(ran).toBe(true);
  });

  it('waits the doubling backoff, or the longer wait a RetryLaterError asks for where the policy honours it', () => {
    const policy: JobPolicy = { queue: 'push', attempts: 5, backoffMs: 2_000 };
    const honours: JobPolicy = { ...policy, retryAfter: true };
    expect([1, 2, 3, 4].map((n) => retryDelayMs(policy, n, new Error('503')))).toEqual([2_000, 4_000, 8_000, 16_000]);
    expect(retryDelayMs(honours, 1, new RetryLaterError('429', 30_000))).toBe(30_000);
    expect(retryDelayMs(honours, 4, new RetryLaterError('429', 5_000))).toBe(16_000);
    expect(retryDelayMs(honours, 1, new RetryLaterError('503'))).toBe(2_000);
    expect(retryDelayMs(policy, 1, new RetryLaterError('429', 30_000))).toBe(2_000);
  });
});

describe('InlineJobQueue at a graceful shutdown', () => {
  it('lets the jobs in hand finish (a delayed one and one waiting for its retry included) before the application closes', async () => {
    const done: string[] = [];
    let tries = 0;
    const slow: JobFunction = async () => {
      await new Promise((resolve) => setTimeout(resolve, 150));
      done.push('slow');
    };
    const flaky: JobFunction = async () => {
      if (tries++ === 0) throw new Error('try again');
      done.push('flaky');
    };
    const queue = new InlineJobQueue(
      registry({
        slow: { policy: { queue: 'media', attempts: 1, backoffMs: 1 }, handler: slow },
        flaky: { policy: { queue: 'email', attempts: 2, backoffMs: 200 }, handler: flaky },
      }),
    );
    await queue.add('slow' as never, {} as never);
    await queue.add('slow' as never, {} as never, { delayMs: 100 });
    await queue.add('flaky' as never, {} as never);
    await queue.beforeApplicationShutdown();
    expect(done.sort()).toEqual(['flaky', 'slow', 'slow']);
  });

  it('says which jobs it could not wait for', async () => {
    const queue = new InlineJobQueue(registry({ stuck: { policy: { queue: 'media', attempts: 1, backoffMs: 1 }, handler: () => new Promise(() => undefined) } }));
    queue.shutdownDrainMs = 50;
    const warn = jest.spyOn((queue as unknown as { logger: { warn: (line: string) => void } }).logger, 'warn').mockImplementation(() => undefined);
    await queue.add('stuck' as never, {} as never);
    await queue.beforeApplicationShutdown();
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('1 job(s) not finished at shutdown are lost with the process (the embedded mode keeps jobs in memory): stuck'));
  });
});
