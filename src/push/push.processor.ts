import { Injectable, Logger } from '@nestjs/common';
import { isUuid } from '../core/database/ids';
import { JobHandler } from '../jobs/job-handler.decorator';
import { JobQueue } from '../jobs/job-queue';
import { PresenceStore } from '../realtime/presence/presence-store';
import { PushGate } from './push-gate';
import { pushPayload } from './push-payload';
import { PushRepository } from './push.repository';
import { WebPushSender } from './web-push.sender';

/** Stored messages to notify of (PushNotifier batches them); `messageId`: one, as the release before queued it. */
export type PushJob = { messageIds: string[] } | { messageId: string };

export interface PushDeliverJob {
  subscriptionId: string;
  chatId: string;
}

declare module '../jobs/job-names' {
  interface JobPayloads {
    push: PushJob;
    'push-deliver': PushDeliverJob;
  }
}

/**
 * Web Push for new messages, off the send path.
 *
 * `push` (one per batch of stored messages, PushNotifier) finds the subscriptions to notify: those
 * of members who have not muted the chat, have notifDesktop on, and have no connected, non-away
 * socket on any instance (PresenceStore: a socket that said `presence:away` holds no lease), in
 * one statement and one presence read for the whole batch. For each (subscription, chat) it asks
 * PushGate once; only one with nothing pending gets a `push-deliver` job.
 *
 * `push-deliver` sends the newest message of the chat its owner has not read, checks the gate,
 * and sends again if messages came in meanwhile; so a burst becomes one notification on its way
 * and at most one after it, the latest, each tagged with the chat (the device shows one). A
 * message already pushed to the subscription (PushGate.notified) is not pushed again.
 * The push service's answer decides the rest: 404/410 delete the subscription, 429/5xx throw so
 * the queue retries with backoff, or after the answer's Retry-After when longer (the gate stays
 * held meanwhile), any other 4xx is logged.
 */
@Injectable()
export class PushProcessor {
  private readonly logger = new Logger('Push');

  constructor(
    private readonly pushes: PushRepository,
    private readonly presence: PresenceStore,
    private readonly gate: PushGate,
    private readonly jobs: JobQueue,
    private readonly sender: WebPushSender,
  ) {}

  @JobHandler('push')
  async fanOut(job: PushJob): Promise<void> {
    const given: unknown = 'messageIds' in job ? job.messageIds : [job.messageId];
    const messageIds = Array.isArray(given) ? given.filter(isUuid) : [];
    if (!messageIds.length) return;
    const recipients = await this.pushes.recipients(messageIds);
    if (!recipients.length) return;
    const online = await this.presence.online([...new Set(recipients.map((r) => r.userId))]);
    let failure: unknown = null;
    for (const { subscriptionId, userId, chatId } of recipients) {
      if (online.has(userId) || !(await this.gate.claim(subscriptionId, chatId))) continue;
      try {
        await this.jobs.add('push-deliver', { subscriptionId, chatId });
      } catch (error) {
        // Nothing will carry this claim: drop it, and let the whole fan-out try again.
        await this.gate.abandon(subscriptionId, chatId).catch(() => undefined);
        failure = error;
      }
    }
    if (failure) throw failure;
  }

  @JobHandler('push-deliver')
  async deliver({ subscriptionId, chatId }: PushDeliverJob): Promise<void> {
    let mark = await this.gate.mark(subscriptionId, chatId);
    let sentSeq = (await this.gate.notified(subscriptionId, chatId)) ?? -1n;
    for (;;) {
      const delivery = await this.pushes.delivery(subscriptionId, chatId);
      if (delivery && BigInt(delivery.seq) > sentSeq && !(await this.presence.online([delivery.userId])).size) {
        const payload = JSON.stringify(pushPayload(delivery.message, delivery.origin));
        const outcome = await this.sender.send(delivery, payload, chatId.replace(/-/g, ''));
        if (outcome === 'gone' || outcome === 'refused') {
          await this.pushes.removeSubscription(subscriptionId);
          this.logger.log(`subscription ${subscriptionId} removed: ${outcome === 'gone' ? 'the push service no longer knows it' : 'its endpoint may not be contacted'}`);
        } else if (outcome !== 'sent') {
          this.logger.warn(`push to subscription ${subscriptionId} rejected with ${outcome.rejected}`);
        }
        sentSeq = BigInt(delivery.seq);
        if (outcome === 'sent') await this.gate.noteNotified(subscriptionId, chatId, sentSeq);
      }
      if (await this.gate.release(subscriptionId, chatId, mark)) return;
      mark = await this.gate.mark(subscriptionId, chatId);
    }
  }
}
