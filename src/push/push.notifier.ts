import { BeforeApplicationShutdown, Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../core/config/app-config';
import { JobQueue } from '../jobs/job-queue';
import './push.processor';

/** Messages one `push` fan-out takes at most (PushProcessor reads their recipients in one statement). */
export const MAX_FAN_OUT_MESSAGES = 256;
/**
 * How long a stored message waits for others to share its fan-out. A job costs Redis about as
 * much as a hundred messages' worth of fan-out work (BullMQ's add, fetch and completion scripts
 * and their events), and a notification reaches its device seconds later anyway.
 */
export const FAN_OUT_WINDOW_MS = 100;
/**
 * The most messages waiting to be queued. A queue that answers nothing (its Redis partitioned)
 * takes one job a second, each waiting out its add's timeout; past this the messages stored meanwhile
 * get no push (counted as missed) instead of piling up in memory for as long as that lasts.
 */
export const MAX_PENDING_MESSAGES = 64 * MAX_FAN_OUT_MESSAGES;
/** Why a message past MAX_PENDING_MESSAGES gets no push: one object, not one per message refused. */
const QUEUE_BEHIND = new Error(`${MAX_PENDING_MESSAGES} messages already wait for the queue`);

/**
 * The send path's one call into Web Push: queue the `push` fan-out of stored messages. It never
 * waits for the queue and never fails the send: a message that could not be queued for push is
 * still delivered to open sockets and kept in history; the miss is logged.
 *
 * Messages are queued together: those stored within FAN_OUT_WINDOW_MS of the first one, and those
 * stored while that job was being queued, go as one job (up to MAX_FAN_OUT_MESSAGES). One job,
 * one query for the recipients and one presence read carry a whole batch; a job per message cost
 * the send path two thirds of its throughput (README, "Web Push on the send path").
 */
@Injectable()
export class PushNotifier implements BeforeApplicationShutdown {
  private readonly logger = new Logger('Push');
  private readonly enabled: boolean;
  private pending: string[] = [];
  /** A batch is being queued, or waits for its window to close. */
  private busy = false;
  /** The window of the next batch, while it is open. */
  private window: NodeJS.Timeout | null = null;
  /** Resolves when nothing is pending or being queued (shutdown waits for it). */
  private idle: Promise<void> = Promise.resolve();
  private settle: (() => void) | null = null;
  /** Misses not yet logged: an outage of the queue's Redis logs one line per 10 s, not one per message. */
  /** Shutdown began: a message stored since (a send the gateway lets finish) is queued at once, not after a window the queue may not outlive. */
  private closing = false;
  private missed = 0;
  private lastLog = 0;

  constructor(
    config: AppConfig,
    private readonly jobs: JobQueue,
  ) {
    this.enabled = config.values.push !== null;
  }

  messageStored(messageId: string): void {
    if (!this.enabled) return;
    if (this.pending.length >= MAX_PENDING_MESSAGES) return this.missedSome(1, QUEUE_BEHIND);
    this.pending.push(messageId);
    if (this.busy) return;
    this.busy = true;
    this.idle = new Promise((resolve) => (this.settle = resolve));
    this.open(FAN_OUT_WINDOW_MS);
  }

  /** Resolves once every message stored so far has been queued for its fan-out (or counted as missed). */
  queued(): Promise<void> {
    return this.idle;
  }

  /** Queues what is pending at once, and from now on each message as it comes, before the queue closes. */
  beforeApplicationShutdown(): Promise<void> {
    this.closing = true;
    if (this.window) {
      clearTimeout(this.window);
      void this.flush();
    }
    return this.idle;
  }

  private open(ms: number): void {
    this.window = setTimeout(() => void this.flush(), this.closing ? 0 : ms);
  }

  private async flush(): Promise<void> {
    this.window = null;
    const messageIds = this.pending.splice(0, MAX_FAN_OUT_MESSAGES);
    try {
      await this.jobs.add('push', { messageIds });
    } catch (error) {
      this.missedSome(messageIds.length, error as Error);
    }
    // What came meanwhile waits for a window of its own, unless it fills a job already.
    if (this.pending.length) return this.open(this.pending.length >= MAX_FAN_OUT_MESSAGES ? 0 : FAN_OUT_WINDOW_MS);
    this.busy = false;
    this.settle?.();
    this.settle = null;
  }

  private missedSome(count: number, error: Error): void {
    this.missed += count;
    const now = Date.now();
    if (now - this.lastLog < 10_000) return;
    this.logger.warn(`push for ${this.missed} message(s) not queued: ${error.message}`);
    this.missed = 0;
    this.lastLog = now;
  }
}
