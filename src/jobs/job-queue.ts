import { AppError } from '../core/errors';
import { JobName, JobPayloads, JobPolicy } from './job-names';

/**
 * How long a graceful shutdown waits for the jobs in hand (BullMQ's running jobs, the embedded
 * mode's jobs in memory), within the process's SHUTDOWN_DEADLINE_MS (the rest of the shutdown
 * needs a few seconds too).
 */
export const SHUTDOWN_DRAIN_MS = 6_000;

export interface EnqueueOptions {
  /** Deduplication key: a second job with the same id is not added while the first exists. */
  jobId?: string;
  delayMs?: number;
}

/** What the first attempts of a job came to within a wait: done, definitely failed, or still trying. */
export type JobOutcome = 'completed' | 'failed' | 'pending';

export interface EnqueuedJob {
  readonly id: string;
  /**
   * Waits at most `timeoutMs` for the job to finish; a job still retrying is `pending`. Only for
   * a job whose policy is `awaited` (job-names.ts); rejects for the others (NotAwaitedError).
   */
  waitForOutcome(timeoutMs: number): Promise<JobOutcome>;
}

/** `waitForOutcome` of a job whose policy does not say `awaited`: a mistake in the calling code. */
export class NotAwaitedError extends Error {
  constructor(name: string) {
    super(`Job '${name}' is not awaited: mark its policy \`awaited: true\` in job-names.ts to wait for its outcome`);
    this.name = 'NotAwaitedError';
  }
}

/**
 * The job queue port. BullMQ on Redis in production; an in-process runner calling the same
 * handlers (with the same retry policy) when REDIS_URL is unset.
 */
export abstract class JobQueue {
  /** Queues a job; throws QueueUnavailableError, promptly, when it cannot be queued. */
  abstract add<N extends JobName>(name: N, data: JobPayloads[N], options?: EnqueueOptions): Promise<EnqueuedJob>;
  /** Resolves when every job known to this process has settled (tests, graceful shutdown). */
  abstract drain(timeoutMs?: number): Promise<void>;
  /** Jobs per queue and state, for the metrics (a queue that cannot be read is left out). */
  abstract depth(): Promise<QueueDepth[]>;
}

export interface QueueDepth {
  queue: string;
  /** waiting, active, delayed, failed… as the adapter knows them. */
  state: string;
  count: number;
}

/** Thrown by a handler when retrying cannot help (e.g. the SMTP server refused the recipient). */
export class PermanentJobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentJobError';
  }
}

/**
 * Thrown by a handler that may succeed later and, perhaps, was told when (a push service's 429
 * with Retry-After): under a policy with `retryAfter`, the next try waits at least `retryAfterMs`.
 */
export class RetryLaterError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
    this.name = 'RetryLaterError';
  }
}

/** The wait before the next try after `attemptsMade` failed ones: the doubling backoff, or the wait the failure asked for if the policy honours it and it is longer. */
export function retryDelayMs(policy: JobPolicy, attemptsMade: number, error: unknown): number {
  const backoff = policy.backoffMs * 2 ** (attemptsMade - 1);
  const asked = policy.retryAfter && error instanceof RetryLaterError ? (error.retryAfterMs ?? 0) : 0;
  return Math.max(backoff, asked);
}

/**
 * Thrown by `add` when the job could not be queued (the queue's Redis is unreachable): nothing
 * was queued. A request that meets it answers 503 SERVICE_UNAVAILABLE unless its feature says more.
 */
export class QueueUnavailableError extends AppError {
  constructor(readonly reason: string) {
    super('SERVICE_UNAVAILABLE', 'The service is briefly unavailable; try again shortly', { retryAfter: 5 });
    this.name = 'QueueUnavailableError';
  }
}
