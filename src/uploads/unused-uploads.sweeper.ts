import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../core/config/app-config';
import { PeriodicTask, TaskSchedule } from '../core/async/periodic-task';
import { UploadsService } from './uploads.service';

/** How often an instance that runs jobs (WORKERS) sweeps unused uploads; the first sweep comes a minute after start. */
export const UNUSED_UPLOADS_SWEEP_MS = 15 * 60_000;
const FIRST_SWEEP_MS = 60_000;

/**
 * Runs UploadsService.sweepUnused (and requeueOverdueVariants) on a timer, on instances with WORKERS on (where the other
 * background work runs). Instances sweeping at once take turns on the sweep's position row, and
 * each upload is still looked at once; a sweep that fails is retried at the next turn.
 */
@Injectable()
export class UnusedUploadsSweeper extends PeriodicTask {
  constructor(
    private readonly uploads: UploadsService,
    private readonly config: AppConfig,
  ) {
    super('unused uploads sweep', new Logger('Uploads'));
  }

  protected schedule(): TaskSchedule | null {
    return this.config.values.workers ? { everyMs: UNUSED_UPLOADS_SWEEP_MS, firstMs: FIRST_SWEEP_MS } : null;
  }

  /** One sweep; resolves how many uploads it deleted. Images whose variants were never made are queued again on the way. */
  protected async work(now: Date): Promise<number> {
    const requeued = await this.uploads.requeueOverdueVariants(now);
    if (requeued) this.logger.warn(`queued the variants of ${requeued} image(s) again: their job was lost or never queued`);
    const deleted = await this.uploads.sweepUnused(now);
    if (deleted) this.logger.log(`deleted ${deleted} upload(s) nothing used within UPLOAD_UNUSED_HOURS`);
    return deleted;
  }
}
