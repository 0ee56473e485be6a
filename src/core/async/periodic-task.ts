import { Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';

/** When an instance runs a periodic task: every `everyMs`, the first time `firstMs` after start (default `everyMs`). */
export interface TaskSchedule {
  everyMs: number;
  firstMs?: number;
}

/**
 * Background work an instance runs on a timer: one run at a time (a turn that comes while the
 * last run is still going is skipped), and a failed run logged and tried again at the next turn.
 * A task says whether this instance runs it at all (`schedule`, null for no) and what one run
 * does (`work`, resolving a count to report; `run` is what the timers and tests call).
 */
export abstract class PeriodicTask implements OnApplicationBootstrap, OnModuleDestroy {
  private timers: NodeJS.Timeout[] = [];
  private running = false;

  /** `what` names a run in the log ("unused uploads sweep failed, will retry: …"). */
  protected constructor(
    private readonly what: string,
    protected readonly logger: Logger,
  ) {}

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

  onModuleDestroy(): void {
    for (const timer of this.timers) clearTimeout(timer);
  }

  /** One run; resolves its count (0 when a run was already going, or it failed). */
  async run(now = new Date()): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      return await this.work(now);
    } catch (error) {
      this.logger.warn(`${this.what} failed, will retry: ${(error as Error).message}`);
      return 0;
    } finally {
      this.running = false;
    }
  }
}
