import { Injectable } from '@nestjs/common';
import { request } from 'node:https';
import { generateRequestDetails, getVapidHeaders } from 'web-push';
import { AppConfig } from '../core/config/app-config';
import { VapidConfig } from '../core/config/env.schema';
import { OutboundPolicy, OutboundRefusedError } from '../core/outbound';
import { RetryLaterError } from '../jobs/job-queue';
import { WebSubscription } from './web-subscription';

/** How long a push service keeps a notification for a device that is offline (RFC 8030 TTL). */
export const PUSH_TTL_SECONDS = 24 * 3600;
/** The whole exchange with a push service, connect to answer. */
export const PUSH_TIMEOUT_MS = 10_000;
/** A push service's answer is a few bytes; past this the connection is dropped. */
const MAX_ANSWER_BYTES = 64 * 1024;
/** Lifetime of a VAPID JWT (RFC 8292 allows up to 24 h); one is signed per push service and reused. */
const VAPID_JWT_SECONDS = 12 * 3600;
/** A cached JWT is replaced when it has less than this left. */
const VAPID_JWT_MIN_LEFT_MS = 3600_000;
/** Push services a process keeps a JWT for (browsers use a handful). */
const MAX_AUDIENCES = 256;
/**
 * The longest Retry-After honoured: a delivery holds its (subscription, chat) mark while it
 * waits, and the mark lapses PENDING_TTL_MS (10 min) after the delivery last looked at it.
 */
export const MAX_RETRY_AFTER_MS = 2 * 60_000;

/**
 * What a push service made of a notification:
 * - `sent`: accepted (2xx);
 * - `gone`: the subscription no longer exists (404, 410): delete it;
 * - `refused`: the endpoint is not an address the server may contact (OutboundPolicy): delete it;
 * - `rejected`: any other 4xx (a malformed request, a subscription bound to other VAPID keys):
 *   trying the same notification again cannot help.
 * 429, 5xx and network failures throw PushServiceUnavailableError, so the queue tries again
 * (after the answer's Retry-After, up to MAX_RETRY_AFTER_MS, if longer than its backoff).
 */
export type PushOutcome = 'sent' | 'gone' | 'refused' | { rejected: number };

export class PushServiceUnavailableError extends RetryLaterError {
  constructor(message: string, retryAfterMs: number | null = null) {
    super(message, retryAfterMs);
    this.name = 'PushServiceUnavailableError';
  }
}

/** A Retry-After header (delay-seconds or an HTTP date, RFC 9110 §10.2.3) as milliseconds from `now`, at most MAX_RETRY_AFTER_MS; null if absent or unreadable. */
export function retryAfterMs(header: string | undefined, now = Date.now()): number | null {
  const value = header?.trim();
  if (!value) return null;
  // An HTTP date starts with the day's name (all three of its forms); Date.parse alone would take '1.5' for a date.
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : /^[A-Za-z]{3}/.test(value) ? Date.parse(value) - now : NaN;
  if (Number.isNaN(ms)) return null;
  return Math.min(Math.max(ms, 0), MAX_RETRY_AFTER_MS);
}

/**
 * Sends one encrypted notification to a push service. `web-push` encrypts the payload
 * (aes128gcm, RFC 8291) and signs the VAPID JWT (RFC 8292); the request itself goes through
 * OutboundPolicy: the endpoint is checked first, and the connection is made by the policy's
 * https agent, which refuses private, loopback and link-local addresses after DNS resolution
 * (except OUTBOUND_ALLOW_HOSTS). This class makes the request instead of web-push's
 * sendNotification so the exchange has a deadline and a cap on the answer read: an endpoint is
 * a URL a user chose, and must not be able to hold a worker or fill its memory.
 */
@Injectable()
export class WebPushSender {
  private readonly vapid: VapidConfig | null;
  /** The signed VAPID Authorization header per push service origin (signing costs more than encrypting a payload). */
  private readonly authorizations = new Map<string, { header: string; expiresAt: number }>();

  constructor(
    config: AppConfig,
    private readonly outbound: OutboundPolicy,
  ) {
    this.vapid = config.values.push;
  }

  /** `topic` lets the push service replace an undelivered notification of the same chat with a newer one (RFC 8030 §5.4). */
  async send(subscription: WebSubscription, payload: string, topic: string): Promise<PushOutcome> {
    if (!this.vapid) throw new Error('Web Push is not configured');
    let url: URL;
    try {
      url = await this.outbound.check(subscription.endpoint);
    } catch (error) {
      if (error instanceof OutboundRefusedError) return refused(error);
      throw error;
    }
    const details = generateRequestDetails({ endpoint: url.href, keys: { p256dh: subscription.p256dh, auth: subscription.auth } }, payload, {
      headers: { Authorization: this.authorization(url.origin, this.vapid) },
      TTL: PUSH_TTL_SECONDS,
      contentEncoding: 'aes128gcm',
      urgency: 'high',
      topic,
    });
    let status: number;
    let retryAfter: string | undefined;
    try {
      ({ status, retryAfter } = await this.post(url, details.headers as Record<string, string | number>, details.body as Buffer));
    } catch (error) {
      if (error instanceof OutboundRefusedError) return refused(error);
      throw new PushServiceUnavailableError(`push service ${url.host}: ${(error as Error).message}`);
    }
    if (status >= 200 && status < 300) return 'sent';
    if (status === 404 || status === 410) return 'gone';
    if (status === 429 || status >= 500) throw new PushServiceUnavailableError(`push service ${url.host} answered ${status}`, retryAfterMs(retryAfter));
    return { rejected: status };
  }

  private authorization(audience: string, vapid: VapidConfig): string {
    const now = Date.now();
    const cached = this.authorizations.get(audience);
    if (cached && cached.expiresAt - now > VAPID_JWT_MIN_LEFT_MS) return cached.header;
    const expiration = Math.floor(now / 1000) + VAPID_JWT_SECONDS;
    const header = getVapidHeaders(audience, vapid.subject, vapid.publicKey, vapid.privateKey, 'aes128gcm', expiration).Authorization;
    if (this.authorizations.size >= MAX_AUDIENCES) this.authorizations.delete(this.authorizations.keys().next().value!);
    this.authorizations.set(audience, { header, expiresAt: expiration * 1000 });
    return header;
  }

  /** POSTs the notification; resolves the status (and Retry-After) as soon as it arrives, and reads (then drops) at most MAX_ANSWER_BYTES of the body. */
  private post(url: URL, headers: Record<string, string | number>, body: Buffer): Promise<{ status: number; retryAfter: string | undefined }> {
    return new Promise((resolve, reject) => {
      const req = request(url, { method: 'POST', headers, agent: this.outbound.httpsAgent });
      const deadline = setTimeout(() => req.destroy(new Error(`no answer within ${PUSH_TIMEOUT_MS} ms`)), PUSH_TIMEOUT_MS);
      deadline.unref();
      req.once('error', (error) => {
        clearTimeout(deadline);
        reject(error);
      });
      req.once('response', (res) => {
        resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] });
        let read = 0;
        res.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_ANSWER_BYTES) res.destroy();
        });
        res.once('close', () => clearTimeout(deadline));
        res.once('error', () => undefined);
      });
      req.end(body);
    });
  }
}

/**
 * An endpoint the outbound policy refuses may not be contacted: 'refused' (the subscription is
 * removed). One whose host does not resolve right now is not that: DNS fails for a while (a
 * resolver restarting, a network blip), and removing subscriptions for it would silence every
 * user it reached until their browser subscribes again. Retried as an unavailable push service.
 */
function refused(error: OutboundRefusedError): 'refused' {
  if (error.reason === 'UNRESOLVABLE') throw new PushServiceUnavailableError(error.message);
  return 'refused';
}
