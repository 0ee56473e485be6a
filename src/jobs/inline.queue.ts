import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { withTimeout } from '../core/async/with-timeout';
import { maskCapabilities } from '../core/logging/request-log';
import { leftOfShutdown, SHUTDOWN_DEADLINE_MS } from '../core/shutdown';
import { JobName, JobPayloads, QUEUE_CONCURRENCY, QueueName } from './job-names';
import { EnqueuedJob, EnqueueOptions, JobOutcome, JobQueue, NotAwaitedError, PermanentJobError, QueueDepth, retryDelayMs, SHUTDOWN_DRAIN_MS } from './job-queue';
import { JobRegistry } from './job-registry';

/**
 * Runs jobs in this process after the caller returns, with the retry policy BullMQ would apply.
 * Used when REDIS_URL is unset (the embedded mode). Nothing survives a restart, which is the
 * documented trade-off of running without Redis: a graceful shutdown (SIGTERM) lets the jobs in
 * hand finish first, for SHUTDOWN_DRAIN_MS at most (and no later than a second before the
 * process's deadline since the signal), and logs those it could not wait for.
 */
@Injectable()
export class InlineJobQueue extends JobQueue implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Jobs');
  /** Jobs not settled yet (running, waiting for a slot, a delay or a retry), by id, with their name. */
  private readonly running = new Map<string, Promise<JobOutcome> & { job: string }>();
  private readonly slots: Partial<Record<QueueName, { busy: number; waiting: Array<() => void> }>> = {};
  /** SHUTDOWN_DRAIN_MS; a test may shorten it. */
  shutdownDrainMs = SHUTDOWN_DRAIN_MS;

  constructor(private readonly registry: JobRegistry) {
    super();
  }

  async add<N extends JobName>(name: N, data: JobPayloads[N], options: EnqueueOptions = {}): Promise<EnqueuedJob> {
    const id = options.jobId ?? randomUUID();
    let run = this.running.get(id);
    if (!run) {
      run = Object.assign(
        this.run(name, data, options.delayMs ?? 0).finally(() => this.running.delete(id)),
        { job: name },
      );
      this.running.set(id, run);
    }
    const outcome = run;
    const awaited = this.registry.policy(name).awaited === true;
    return {
      id,
      waitForOutcome: (timeoutMs) => (awaited ? withTimeout(outcome, timeoutMs, 'pending' as const) : Promise.reject(new NotAwaitedError(name))),
    };
  }

  async drain(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.running.size && Date.now() < deadline) {
      // The deadline timer must not keep the process alive once the jobs have settled.
      await Promise.race([Promise.allSettled([...this.running.values()]), sleep(Math.max(0, deadline - Date.now()), undefined, { ref: false })]);
    }
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.drain(Math.min(this.shutdownDrainMs, leftOfShutdown(SHUTDOWN_DEADLINE_MS - 1_000)));
    if (!this.running.size) return;
    const names = [...new Set([...this.running.values()].map((run) => run.job))].join(', ');
    this.logger.warn(`${this.running.size} job(s) not finished at shutdown are lost with the process (the embedded mode keeps jobs in memory): ${names}`);
  }

  /** Jobs running and waiting for a slot, per queue (delayed and backing-off jobs are not counted). */
  async depth(): Promise<QueueDepth[]> {
    return Object.entries(this.slots).flatMap(([queue, state]) => [
      { queue, state: 'active', count: state!.busy },
      { queue, state: 'waiting', count: state!.waiting.length },
    ]);
  }

  private async run(name: string, data: unknown, delayMs: number): Promise<JobOutcome> {
    const policy = this.registry.policy(name);
    const handler = this.registry.handler(name);
    await sleep(delayMs); // always yield first: the caller's transaction commits before the job runs
    for (let attempt = 1; ; attempt++) {
      const release = await this.slot(policy.queue);
      try {
        await handler(data);
        return 'completed';
      } catch (error) {
        const permanent = error instanceof PermanentJobError;
        const last = permanent || attempt >= policy.attempts;
        this.logger.warn(`job ${name} attempt ${attempt}/${policy.attempts} failed${last ? ' for good' : ''}: ${maskCapabilities(String((error as Error).message))}`);
        if (last) return 'failed';
        release();
        await sleep(retryDelayMs(policy, attempt, error));
      } finally {
        release();
      }
    }
  }

  /** Waits for one of the queue's slots, so (as with BullMQ) a burst of image jobs cannot starve the process. */
  private async slot(queue: QueueName): Promise<() => void> {
    const state = (this.slots[queue] ??= { busy: 0, waiting: [] });
    if (state.busy >= QUEUE_CONCURRENCY[queue]) await new Promise<void>((resolve) => state.waiting.push(resolve));
    else state.busy++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = state.waiting.shift();
      if (next) next();
      else state.busy--;
    };
  }
}
