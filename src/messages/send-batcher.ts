import { Injectable } from '@nestjs/common';
import { AppConfig } from '../core/config/app-config';
import { Metrics } from '../core/metrics/metrics';
import { BatchItem, MessagesRepository, StoredMessage } from './messages.repository';
import { PublicationTurn, PublicationTurns } from './publication-turns';
import { isStatementRefused } from '../core/database/query-results';

/** Messages in one statement at most. */
export const MAX_BATCH = 256;

/**
 * A stored message with its turn among the chat's messages this instance publishes: a chat's
 * messages are published in the order they were numbered, whatever else each one waits for.
 */
export interface BatchedMessage extends StoredMessage, PublicationTurn {}

interface Waiting {
  item: BatchItem;
  resolve: (stored: BatchedMessage | null) => void;
  reject: (error: unknown) => void;
}

/**
 * Group commit of `message:send`: the messages that arrive together are written as one statement
 * (MessagesRepository.insertBatch), so one transaction and one WAL flush carry them all.
 *
 * "Together" needs no timer: a message is written on the next turn of the event loop with
 * whatever else arrived in the same turn, unless `maxInFlight` batches are being written already
 * (or one of them writes to its chat); then it waits for one of them to commit and goes with
 * everything that arrived meanwhile (up to MAX_BATCH). Under light load a batch is one message and
 * nothing waits; under heavy load batches grow with the load. Each caller resolves when its batch
 * has committed.
 *
 * One message never fails the others: a message the checks leave out resolves null (the caller
 * finds out why, as before, and answers that sender alone); a second message with the same
 * (sender, clientMessageId) as one in the batch is left out too, resolved null after the batch
 * committed (the caller then finds the stored one: a retry); and if the statement fails as a
 * whole, each message of it is written alone, each failure reaching its own caller.
 *
 * Order: a chat's messages are numbered in the order they came here: those of one batch in that
 * order, and a chat is written by one batch at a time (see take). One socket's messages come in
 * frame order: the gateway takes its next message:send once this one is queued here (`pipeline`),
 * so they may share a batch but never overtake one another. Each stored message also gets its
 * turn to be published (BatchedMessage): the socket's earlier answers hold a message back, and
 * that must not let a later message of its chat, from another socket, go out first (the other
 * instances would get the chat's messages out of order).
 */
@Injectable()
export class SendBatcher {
  private waiting: Waiting[] = [];
  /** Chats that a batch in flight writes to. */
  private readonly writing = new Set<string>();
  private readonly turns = new PublicationTurns();
  private inFlight = 0;
  private scheduled = false;
  private readonly maxInFlight: number;

  constructor(
    private readonly messages: MessagesRepository,
    private readonly metrics: Metrics,
    config: AppConfig,
  ) {
    // Embedded PGlite runs one statement at a time: a second batch in flight would only queue.
    // With a pool, two keep the database busy while Node reads the results of the other.
    this.maxInFlight = config.values.databaseUrl ? Math.max(1, Math.min(4, Math.floor(config.values.dbPoolSize / 4))) : 1;
  }

  /** Stores the message with the next batch; null when its checks left it out. */
  store(item: BatchItem): Promise<BatchedMessage | null> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= this.maxInFlight || !this.waiting.length) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      while (this.inFlight < this.maxInFlight) {
        const taken = this.take();
        if (!taken.length) break;
        void this.write(taken);
      }
    });
  }

  /**
   * The next batch: up to MAX_BATCH waiting messages, oldest first, leaving those of a chat that a
   * batch in flight is writing (they go with the next batch after it: a chat's messages are
   * numbered in the order they came, which two batches racing for the chat's row would not keep).
   */
  private take(): Waiting[] {
    const taken: Waiting[] = [];
    const left: Waiting[] = [];
    for (const entry of this.waiting) {
      if (taken.length < MAX_BATCH && !this.writing.has(entry.item.draft.chatId)) taken.push(entry);
      else left.push(entry);
    }
    this.waiting = left;
    for (const entry of taken) this.writing.add(entry.item.draft.chatId);
    return taken;
  }

  private async write(taken: Waiting[]): Promise<void> {
    this.inFlight++;
    const batch: Waiting[] = [];
    const repeats: Waiting[] = [];
    const keys = new Set<string>();
    for (const entry of taken) {
      const { senderId, clientMessageId } = entry.item.draft;
      const key = clientMessageId === null ? null : `${senderId}\n${clientMessageId}`;
      if (key !== null && keys.has(key)) repeats.push(entry);
      else {
        if (key !== null) keys.add(key);
        batch.push(entry);
      }
    }
    try {
      this.metrics.sendBatchSize.observe(batch.length);
      try {
        const stored = await this.messages.insertBatch(batch.map((entry) => entry.item));
        batch.forEach((entry, i) => entry.resolve(this.inTurn(stored[i])));
      } catch (error) {
        // One message alone, again, only after PostgreSQL refused the statement (one bad row: nothing was
        // stored). After a lost connection the batch may have committed: writing each again would store
        // it twice (or, with a clientMessageId, answer it as a repeat nobody else hears of).
        if (batch.length === 1 || !isStatementRefused(error)) for (const entry of batch) entry.reject(error);
        // One after the other, so that each chat's messages keep their order.
        else for (const entry of batch) await this.writeAlone(entry);
      }
      for (const entry of repeats) entry.resolve(null);
    } finally {
      for (const entry of taken) this.writing.delete(entry.item.draft.chatId);
      this.inFlight--;
      this.schedule();
    }
  }

  /** Gives a stored message its publication turn in its chat (they are handed out in seq order). */
  private inTurn(stored: StoredMessage | null): BatchedMessage | null {
    if (!stored) return null;
    const { previousPublished, published } = this.turns.take(stored.message.chatId);
    // Written out, not `{...stored, …}`: a spread copy that is then extended costs V8 ~1 KB more.
    return {
      message: stored.message,
      sender: stored.sender,
      memberIds: stored.memberIds,
      revealedTo: stored.revealedTo,
      draftCleared: stored.draftCleared,
      previousPublished,
      published,
    };
  }

  private async writeAlone(entry: Waiting): Promise<void> {
    try {
      const [stored] = await this.messages.insertBatch([entry.item]);
      entry.resolve(this.inTurn(stored));
    } catch (error) {
      entry.reject(error);
    }
  }
}
