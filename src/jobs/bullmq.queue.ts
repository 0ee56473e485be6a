import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Job, Queue, QueueEvents, UnrecoverableError, Worker } from 'bullmq';
import { withTimeout } from '../core/async/with-timeout';
import { AppConfig } from '../core/config/app-config';
import { maskCapabilities } from '../core/logging/request-log';
import { REDIS_REQUEST_TIMEOUT_MS, RedisService } from '../core/redis/redis.service';
import { leftOfShutdown, SHUTDOWN_DEADLINE_MS } from '../core/shutdown';
import { JOBS, JobName, JobPayloads, JobPolicy, QUEUE_CONCURRENCY, QueueName } from './job-names';
import { EnqueuedJob, EnqueueOptions, JobOutcome, JobQueue, NotAwaitedError, PermanentJobError, QueueDepth, QueueUnavailableError, retryDelayMs, SHUTDOWN_DRAIN_MS } from './job-queue';
import { JobRegistry } from './job-registry';

const SHUTDOWN_GRACE_MS = 5_000;
/** How long start-up waits for the queue events' connection before going on without it. */
const EVENTS_READY_WAIT_MS = 5_000;
/** The backoff type of jobs whose policy honours a RetryLaterError's wait, computed by the workers' backoffStrategy. */
const RETRY_AFTER_BACKOFF = 'retry-after';

/**
 * BullMQ on Redis: jobs survive restarts and are shared by every instance. Workers run in this
 * process unless WORKERS=off (then `node dist/src/worker.js` runs them elsewhere).
 */
@Injectable()
export class BullmqJobQueue extends JobQueue implements OnApplicationBootstrap, BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger('Jobs');
  private readonly queues = new Map<QueueName, Queue>();
  private readonly events = new Map<QueueName, QueueEvents>();
  /** The jobs this process's workers are running, which a shutdown lets finish. */
  private readonly running = new Set<Promise<unknown>>();
  private readonly workers: Worker[] = [];

  constructor(
    private readonly registry: JobRegistry,
    private readonly redis: RedisService,
    private readonly config: AppConfig,
  ) {
    super();
  }

  async onApplicationBootstrap(): Promise<void> {
    // BullMQ's scripts take several keys of a queue at once: on a Redis Cluster its documented
    // fix is a hash-tagged prefix, which puts every queue key in one slot. One Redis keeps the
    // plain prefix (jobs already waiting under it stay found).
    const prefix = this.redis.cluster ? `{${this.redis.key('bull')}}` : this.redis.key('bull');
    const policies = Object.values(JOBS as Record<string, JobPolicy>);
    const followed = new Set(policies.filter((policy) => policy.awaited).map((policy) => policy.queue));
    for (const queue of new Set(policies.map((policy) => policy.queue))) {
      // No offline queue: an add while Redis is down fails at once instead of waiting for it
      // (BullMQ's "failing fast when Redis is down"), and is never replayed late.
      const q = new Queue(queue, { prefix, connection: this.redis.connect(`queue:${queue}`, { maxRetriesPerRequest: 20, enableOfflineQueue: false }) });
      q.on('error', (error) => this.logger.debug(`queue ${queue}: ${error.message}`));
      this.queues.set(queue, q);
      if (followed.has(queue)) {
        const events = new QueueEvents(queue, { prefix, connection: this.redis.connect(`events:${queue}`, { maxRetriesPerRequest: null }) });
        events.on('error', (error) => this.logger.debug(`queue events ${queue}: ${error.message}`));
        this.events.set(queue, events);
        // Bounded, as the realtime bus's first connection is: a Redis down at start-up must not
        // hold the process silent for good (its connection retries for ever). Until it is ready,
        // an outcome waited for is not seen and answers as still pending.
        const ready = await withTimeout(events.waitUntilReady().then(() => true, () => false), EVENTS_READY_WAIT_MS, false);
        if (!ready) this.logger.warn(`queue events ${queue}: Redis not ready within ${EVENTS_READY_WAIT_MS} ms; starting without them (they connect when Redis answers)`);
      }
      if (this.config.values.workers) this.workers.push(this.startWorker(queue, prefix));
    }
  }

  async add<N extends JobName>(name: N, data: JobPayloads[N], options: EnqueueOptions = {}): Promise<EnqueuedJob> {
    const policy = this.registry.policy(name);
    const queue = this.queues.get(policy.queue);
    if (!queue) throw new Error(`Queue '${policy.queue}' is not open`);
    const adding = queue
      .add(name, data, {
        jobId: options.jobId,
        delay: options.delayMs,
        attempts: policy.attempts,
        backoff: { type: policy.retryAfter ? RETRY_AFTER_BACKOFF : 'exponential', delay: policy.backoffMs },
        removeOnComplete: { age: 3600, count: 1000 },
        removeOnFail: { age: 24 * 3600 },
      })
      .catch((error: Error) => new QueueUnavailableError(error.message));
    const job = await withTimeout(adding, REDIS_REQUEST_TIMEOUT_MS, new QueueUnavailableError(`no answer within ${REDIS_REQUEST_TIMEOUT_MS} ms`));
    if (job instanceof QueueUnavailableError) throw job;
    const events = policy.awaited ? this.events.get(policy.queue) : undefined;
    return { id: job.id!, waitForOutcome: (timeoutMs) => (events ? this.outcome(job, events, timeoutMs) : Promise.reject(new NotAwaitedError(name))) };
  }

  async drain(timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const queue of this.queues.values()) {
      while (Date.now() < deadline) {
        const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
        if (Object.values(counts).every((n) => n === 0)) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  async depth(): Promise<QueueDepth[]> {
    const states = ['waiting', 'active', 'delayed', 'prioritized', 'failed'] as const;
    const read = [...this.queues].map(async ([name, queue]) => {
      const counts = await withTimeout(queue.getJobCounts(...states).catch(() => null), REDIS_REQUEST_TIMEOUT_MS, null);
      return counts ? states.map((state) => ({ queue: name, state, count: counts[state] ?? 0 })) : [];
    });
    return (await Promise.all(read)).flat();
  }

  /**
   * The workers take no new job and the running ones finish (for SHUTDOWN_DRAIN_MS at most, and
   * no later than 2 s before the process's deadline since the signal, the queues' close's share), before any module
   * shuts down: the database and Redis close in onApplicationShutdown, the database first, and a
   * job still running then fails on them (it is tried again, but its attempt is spent). A job
   * still running past the wait is left to BullMQ: its lock lapses and another worker takes it.
   */
  async beforeApplicationShutdown(): Promise<void> {
    // Closing takes no new job at once; what is waited for is the jobs running here. A worker's
    // close itself waits for Redis, which may be down: onApplicationShutdown bounds that.
    for (const worker of this.workers) worker.close().catch(() => undefined);
    await withTimeout(Promise.allSettled([...this.running]), Math.min(SHUTDOWN_DRAIN_MS, leftOfShutdown(SHUTDOWN_DEADLINE_MS - 2_000)), null);
  }

  /**
   * Closes the queues and their events (bounded, within the process's deadline: a dead Redis must
   * not hold shutdown hostage), last: other modules' shutdown queues jobs until then (a
   * background task's files to delete).
   */
  async onApplicationShutdown(): Promise<void> {
    const closing = [...this.workers, ...this.events.values(), ...this.queues.values()].map((c) => c.close());
    const graceMs = Math.min(SHUTDOWN_GRACE_MS, leftOfShutdown(SHUTDOWN_DEADLINE_MS - 1_000));
    await Promise.race([Promise.allSettled(closing), new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
  }

  private startWorker(queue: QueueName, prefix: string): Worker {
    const worker = new Worker(
      queue,
      async (job: Job) => {
        const run = (async () => this.registry.handler(job.name)(job.data))();
        this.running.add(run);
        try {
          return await run;
        } catch (error) {
          if (error instanceof PermanentJobError) throw new UnrecoverableError(error.message);
          throw error;
        } finally {
          this.running.delete(run);
        }
      },
      {
        prefix,
        concurrency: QUEUE_CONCURRENCY[queue],
        connection: this.redis.connect(`worker:${queue}`, { maxRetriesPerRequest: null }),
        settings: { backoffStrategy: (attemptsMade, _type, error, job) => retryDelayMs(this.registry.policy(job!.name), attemptsMade, error) },
      },
    );
    worker.on('failed', (job, error) => this.logger.warn(`job ${job?.name} (${job?.id}) attempt ${job?.attemptsMade} failed: ${maskCapabilities(String(error.message))}`));
    // A Redis outage makes every retry fail alike: one warning per distinct error, not one a second.
    let lastError = '';
    worker.on('error', (error) => {
      if (error.message !== lastError) this.logger.warn(`worker ${queue}: ${error.message}`);
      lastError = error.message;
    });
    worker.on('ready', () => (lastError = ''));
    return worker;
  }

  private async outcome(job: Job, events: QueueEvents, timeoutMs: number): Promise<JobOutcome> {
    try {
      await job.waitUntilFinished(events, timeoutMs);
      return 'completed';
    } catch {
      const state = await job.getState().catch(() => 'unknown');
      return state === 'failed' ? 'failed' : state === 'completed' ? 'completed' : 'pending';
    }
  }
}
