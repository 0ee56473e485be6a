import { JobName, JobPayloads } from './job-names';

export interface EnqueueOptions {
  /** Deduplication key: a second job with the same id is not added while the first exists. */
  jobId?: string;
  delayMs?: number;
}

/** What the first attempts of a job came to within a wait: done, definitely failed, or still trying. */
export type JobOutcome = 'completed' | 'failed' | 'pending';

export interface EnqueuedJob {
  readonly id: string;
  /** Waits at most `timeoutMs` for the job to finish; a job still retrying is `pending`. */
  waitForOutcome(timeoutMs: number): Promise<JobOutcome>;
}

/**
 * The job queue port. BullMQ on Redis in production; an in-process runner calling the same
 * handlers (with the same retry policy) when REDIS_URL is unset.
 */
export abstract class JobQueue {
  abstract add<N extends JobName>(name: N, data: JobPayloads[N], options?: EnqueueOptions): Promise<EnqueuedJob>;
  /** Resolves when every job known to this process has settled (tests, graceful shutdown). */
  abstract drain(timeoutMs?: number): Promise<void>;
}

/** Thrown by a handler when retrying cannot help (e.g. the SMTP server refused the recipient). */
export class PermanentJobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermanentJobError';
  }
}
