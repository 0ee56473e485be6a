import { Injectable, Logger } from '@nestjs/common';
import { PeriodicTask, TaskSchedule } from '../core/async/periodic-task';
import { AppConfig } from '../core/config/app-config';
import { UsersService } from './users.service';

/** How often instances that run background work (WORKERS) delete inactive accounts; the first run comes five minutes after start. */
export const INACTIVE_ACCOUNTS_EVERY_MS = 24 * 3_600_000;
const FIRST_RUN_MS = 5 * 60_000;

/**
 * The daily job of the `autoDeleteMonths` setting (wire-contract-v2.2 §15): accounts whose
 * latest use (a session made or used) is older than the months the user chose are deleted, as
 * DELETE /api/users/me deletes one (UsersService.deleteInactive). Instances running it at once
 * find the same accounts; the second deletion of one finds it gone and moves on.
 */
@Injectable()
export class InactiveAccounts extends PeriodicTask {
  constructor(
    private readonly users: UsersService,
    private readonly config: AppConfig,
  ) {
    super('inactive accounts deletion', new Logger('Users'));
  }

  protected schedule(): TaskSchedule | null {
    return this.config.values.workers ? { everyMs: INACTIVE_ACCOUNTS_EVERY_MS, firstMs: FIRST_RUN_MS } : null;
  }

  /** Resolves how many accounts went. */
  protected async work(now: Date): Promise<number> {
    const deleted = await this.users.deleteInactive(now);
    if (deleted) this.logger.log(`deleted ${deleted} account(s) unused for their autoDeleteMonths`);
    return deleted;
  }
}
