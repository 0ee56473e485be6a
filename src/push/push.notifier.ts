import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../core/config/app-config';
import { JobQueue } from '../jobs/job-queue';
import './push.processor';

/**
 * The send path's one call into Web Push: queue the `push` fan-out of a stored message. It never
 * waits for the queue and never fails the send: a message that could not be queued for push is
 * still delivered to open sockets and kept in history; the miss is logged.
 */
@Injectable()
export class PushNotifier {
  private readonly logger = new Logger('Push');
  private readonly enabled: boolean;
  /** Misses not yet logged: an outage of the queue's Redis logs one line per 10 s, not one per message. */
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
    this.jobs.add('push', { messageId }).catch((error: Error) => this.missedOne(error));
  }

  private missedOne(error: Error): void {
    this.missed++;
    const now = Date.now();
    if (now - this.lastLog < 10_000) return;
    this.logger.warn(`push for ${this.missed} message(s) not queued: ${error.message}`);
    this.missed = 0;
    this.lastLog = now;
  }
}
