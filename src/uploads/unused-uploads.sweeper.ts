import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { AppConfig } from '../core/config/app-config';
import { UploadsService } from './uploads.service';

/** How often an instance that runs jobs (WORKERS) sweeps unused uploads; the first sweep comes a minute after start. */
export const UNUSED_UPLOADS_SWEEP_MS = 15 * 60_000;
const FIRST_SWEEP_MS = 60_000;

/**
 * Runs UploadsService.sweepUnused on a timer, on instances with WORKERS on (where the other
 * background work runs). Instances sweeping at once take turns on the sweep's position row, and
 * each upload is still looked at once; a sweep that fails is retried at the next turn.
 */
@Injectable()
export class UnusedUploadsSweeper implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('Uploads');
  private timers: NodeJS.Timeout[] = [];
  private running = false;

  constructor(
    private readonly uploads: UploadsService,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.config.values.workers) return;
    this.timers = [setTimeout(() => void this.run(), FIRST_SWEEP_MS), setInterval(() => void this.run(), UNUSED_UPLOADS_SWEEP_MS)];
    for (const timer of this.timers) timer.unref();
  }

  onModuleDestroy(): void {
    for (const timer of this.timers) clearTimeout(timer);
  }

  /** One sweep; resolves how many uploads it deleted (0 when one was already running or it failed). */
  async run(now?: Date): Promise<number> {
    if (this.running) return 0;
    this.running = true;
    try {
      const deleted = await this.uploads.sweepUnused(now);
      if (deleted) this.logger.log(`deleted ${deleted} upload(s) nothing used within UPLOAD_UNUSED_HOURS`);
      return deleted;
    } catch (error) {
      this.logger.warn(`unused uploads sweep failed, will retry: ${(error as Error).message}`);
      return 0;
    } finally {
      this.running = false;
    }
  }
}
