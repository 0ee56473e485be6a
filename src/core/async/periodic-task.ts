import { BeforeApplicationShutdown, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { OutageLog } from '../logging/outage-log';
import { leftOfShutdown } from '../shutdown';

/**
 * How long a shutdown waits for the runs in progress (a batch committing, its files queued for
 * deletion), all tasks together from the signal: then the in-process jobs' drain (6 s) still
 * fits in the process's SHUTDOWN_DEADLINE_MS, and logs what it drops.
 */
export const SHUTDOWN_WAIT_MS = 3_000;

/** When an instance runs a periodic task: every `everyMs`, the first time `firstMs` after start (default `everyMs`). */
export interface TaskSchedule {
  everyMs: number;
  firstMs?: number;
}

/**
 * Background work an instance runs on a timer: one run at a time (a turn that comes while the
 * last run is still going is skipped), and a failed run tried again at the next turn; a failure
 * is logged when it first happens (or changes), and the first run that works again says so.
 * A task says whether this instance runs it at all (`schedule`, null for no) and what one run
 * does (`work`, resolving a count to report; `run` is what the timers and tests call).
 */
export abstract class PeriodicTask implements OnApplicationBootstrap, BeforeApplicationShutdown, OnModuleDestroy {
  private timers: NodeJS.Timeout[] = [];
  private running: Promise<number> | null = null;
  /** An outage is logged once, not at every turn. */
  private readonly outages: OutageLog;

  /** `what` names a run in the log ("unused uploads sweep failed, will retry: …"). */
  protected constructor(
    what: string,
    protected readonly logger: Logger,
  ) {
    this.outages = new OutageLog(logger, what);
  }

  /** This instance's schedule, or null when it does not run the task. */
  protected abstract schedule(): TaskSchedule | null;

  /** One run, at `now`. */
  protected abstract work(now: Date): Promise<number>;

  onApplicationBootstrap(): void {
    const schedule = this.schedule();
    if (!schedule) return;
    this.timers = [setTimeout(() => void this.run(), schedule.firstMs ?? schedule.everyMs), setInterval(() => void this.run(), schedule.everyMs)];
    for (const timer of this.timers) timer.unref();
  }

  /**
   * No new run, and the one in progress (if any) finishes before the queues, Redis and the
   * database close under it (for what is left of SHUTDOWN_WAIT_MS since the signal): a batch that committed after them could no
   * longer queue the deletion of its files, which nothing would find again.
   */
  async beforeApplicationShutdown(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    if (!this.running) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.running, new Promise((resolve) => (timer = setTimeout(resolve, leftOfShutdown(SHUTDOWN_WAIT_MS))))]);
    clearTimeout(timer);
  }

  onModuleDestroy(): void {
    for (const timer of this.timers) clearTimeout(timer);
  }

  /** One run; resolves its count (0 when a run was already going, or it failed). */
  async run(now = new Date()): Promise<number> {
    if (this.running) return 0;
    this.running = this.work(now).then(
      (count) => {
        this.outages.worked();
        return count;
      },
      (error: unknown) => {
        this.outages.failed(error);
        return 0;
      },
    );
    try {
      return await this.running;
    } finally {
      this.running = null;
    }
  }
}
