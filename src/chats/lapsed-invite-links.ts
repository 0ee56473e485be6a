import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { PeriodicTask, TaskSchedule } from '../core/async/periodic-task';
import { AppConfig } from '../core/config/app-config';
import { deleteInBatches } from '../core/database/batched-delete';

/** How often instances that run background work (WORKERS) delete invite links long out of use; the first run ten minutes after start. */
export const LAPSED_INVITE_LINKS_EVERY_MS = 24 * 3_600_000;
const FIRST_RUN_MS = 10 * 60_000;
/** How long a link out of use is kept (its code answers INVITE_EXPIRED or INVITE_NOT_FOUND meanwhile; 404 after). */
export const LAPSED_INVITE_LINK_DAYS = 30;
const BATCH = 1_000;

/**
 * Deletes invite links out of use for LAPSED_INVITE_LINK_DAYS: revoked, expired, or used up
 * (counted from their creation, as the last use is not kept). Only active links count against a
 * group's 20, so a create-and-revoke loop (or links of one use) would otherwise add rows for good,
 * and every create counts the group's links.
 */
@Injectable()
export class LapsedInviteLinks extends PeriodicTask {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly config: AppConfig,
  ) {
    super('lapsed invite links deletion', new Logger('InviteLinks'));
  }

  protected schedule(): TaskSchedule | null {
    return this.config.values.workers ? { everyMs: LAPSED_INVITE_LINKS_EVERY_MS, firstMs: FIRST_RUN_MS } : null;
  }

  /** Resolves how many links went. */
  protected async work(): Promise<number> {
    return deleteInBatches(
      this.dataSource,
      `DELETE FROM invite_links WHERE id IN (
         SELECT id FROM invite_links
          WHERE revoked_at < now() - make_interval(days => $2)
             OR expires_at < now() - make_interval(days => $2)
             OR (max_uses IS NOT NULL AND uses >= max_uses AND created_at < now() - make_interval(days => $2))
          LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING 1`,
      [LAPSED_INVITE_LINK_DAYS],
      BATCH,
    );
  }
}
