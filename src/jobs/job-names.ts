/**
 * Every job the system runs: its queue and retry policy. A feature that adds a job appends it
 * here, declares its payload by augmenting `JobPayloads`, and marks exactly one method
 * `@JobHandler(name)`; start-up fails otherwise.
 */
export const JOBS = {
  'send-otp-mail': { queue: 'email', attempts: 5, backoffMs: 2_000, awaited: true },
  'image-variants': { queue: 'media', attempts: 3, backoffMs: 2_000 },
  'delete-files': { queue: 'media', attempts: 6, backoffMs: 2_000 },
  // Web Push: one fan-out per batch of messages, then one delivery per (subscription, chat); a push service
  // answering 429 or 5xx is tried again, 2 s then doubling, or after its Retry-After if longer.
  // The fan-out has a queue of its own since it carries a batch (`{messageIds}`): a worker of the
  // release before reads only `{messageId}` and would notify nobody of a batch it took during a
  // rolling deploy; it never reads this queue. Its `{messageId}` jobs on `push` are still run.
  push: { queue: 'push-fanout', attempts: 3, backoffMs: 1_000 },
  'push-deliver': { queue: 'push', attempts: 5, backoffMs: 2_000, retryAfter: true },
} as const satisfies Record<string, JobPolicy>;

export interface JobPolicy {
  queue: QueueName;
  /** Total tries, the first included. */
  attempts: number;
  /** Delay before the second try; doubles after each failure. */
  backoffMs: number;
  /**
   * A failure that says when to come back (RetryLaterError) waits that long if it is longer than
   * the backoff. On BullMQ this is a custom backoff type, which workers started from code older
   * than this field cannot compute (such a job fails on them).
   */
  retryAfter?: boolean;
  /**
   * Its callers wait for its outcome (`EnqueuedJob.waitForOutcome`, which rejects for other
   * jobs). BullMQ follows the events of the queues holding such a job, and only of those: every
   * instance reads every event of a queue it follows (four per job), which a queue of a job per
   * message would pay for nothing.
   */
  awaited?: boolean;
}

export type QueueName = 'email' | 'media' | 'push' | 'push-fanout';

/** Jobs of one queue running at once in one process (BullMQ worker concurrency, and the in-process runner's cap). */
export const QUEUE_CONCURRENCY: Record<QueueName, number> = { email: 10, media: 2, push: 16, 'push-fanout': 4 };

/** Payload type of each job, augmented by the features: `declare module '../jobs/job-names' { interface JobPayloads { ... } }`. */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface JobPayloads {}

export type JobName = keyof JobPayloads & string;

export function jobPolicy(name: string): JobPolicy | undefined {
  return (JOBS as Record<string, JobPolicy>)[name];
}
