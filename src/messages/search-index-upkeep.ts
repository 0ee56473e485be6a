import { Injectable, Logger } from '@nestjs/common';
import { PeriodicTask, TaskSchedule } from '../core/async/periodic-task';
import { AppConfig } from '../core/config/app-config';
import { MessagesRepository } from './messages.repository';

/** How often the full-text index's pending entries are merged (a few seconds of messages each time). */
export const SEARCH_INDEX_UPKEEP_MS = 2_000;

/**
 * Keeps the send path clear of the full-text index's upkeep. messages_search_idx is a GIN index
 * with `fastupdate`: an insert only appends its words to a pending list, and whichever insert
 * finds that list over gin_pending_list_limit (4 MB, some 20,000 messages) merges all of it into
 * the index itself, inside its statement: a send batch then takes half a second, holding its chats'
 * rows. VACUUM merges the list too, but autovacuum seldom visits a table that only grows (and not
 * at all where it is off). So every instance on PostgreSQL merges it every SEARCH_INDEX_UPKEEP_MS
 * from a connection of its own (the merge locks out a second merger, not inserts); the embedded
 * database runs one statement at a time and is left to merge on its own.
 */
@Injectable()
export class SearchIndexUpkeep extends PeriodicTask {
  constructor(
    private readonly messages: MessagesRepository,
    private readonly config: AppConfig,
  ) {
    super('search index upkeep', new Logger('SearchIndexUpkeep'));
  }

  protected schedule(): TaskSchedule | null {
    return this.config.values.databaseUrl ? { everyMs: SEARCH_INDEX_UPKEEP_MS } : null;
  }

  /** Merges the pending entries; resolves how many index pages that emptied. */
  protected work(): Promise<number> {
    return this.messages.mergePendingSearchEntries();
  }
}
