import webpush from 'web-push';
import type { AppConfig } from '../core/config/app-config';
import type { ResolveHost } from '../core/outbound/host-resolver';
import { OutboundPolicy } from '../core/outbound/outbound-policy';
import type { WebSubscription } from './web-subscription';
import { MAX_RETRY_AFTER_MS, PushServiceUnavailableError, retryAfterMs, WebPushSender } from './web-push.sender';

/** An uncompressed P-256 public key (the generator point), as a browser's p256dh is. */
const P256DH = Buffer.concat([
  Buffer.from([4]),
  Buffer.from('6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296', 'hex'),
  Buffer.from('4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5', 'hex'),
]).toString('base64url');

describe('retryAfterMs', () => {
  const now = Date.parse('2026-11-30T12:00:00Z');

  it('reads delay-seconds and HTTP dates', () => {
    expect(retryAfterMs('30', now)).toBe(30_000);
    expect(retryAfterMs(' 0 ', now)).toBe(0);
    expect(retryAfterMs('Mon, 30 Nov 2026 12:01:00 GMT', now)).toBe(60_000);
  });

  it('caps a long wait, clamps a past date to now, and ignores what it cannot read', () => {
    expect(retryAfterMs('86400', now)).toBe(MAX_RETRY_AFTER_MS);
    expect(retryAfterMs('Mon, 30 Nov 2026 11:00:00 GMT', now)).toBe(0);
    expect([undefined, '', 'soon', '-5', '1.5'].map((h) => retryAfterMs(h, now))).toEqual([null, null, null, null, null]);
  });
});

describe('WebPushSender.send', () => {
  const vapid = webpush.generateVAPIDKeys();
  const config = { values: { push: { publicKey: vapid.publicKey, privateKey: vapid.privateKey, subject: 'mailto:ops@example.com' } } } as unknown as AppConfig;
  const subscription = (endpoint: string) => ({ endpoint, p256dh: P256DH, auth: 'AAAAAAAAAAAAAAAAAAAAAA' }) as WebSubscription;
  /** `resolve` stands for c-ares, which resolves the names users chose (an endpoint is one). */
  const senderResolving = (resolve: ResolveHost) => new WebPushSender(config, new OutboundPolicy({ allowHosts: [], resolve }));

  it('retries, rather than refuses, an endpoint whose host does not resolve right now: its subscription is kept', async () => {
    const failing: ResolveHost = () => Promise.reject(Object.assign(new Error('queryA ESERVFAIL fcm.googleapis.com'), { code: 'ESERVFAIL' }));
    await expect(senderResolving(failing).send(subscription('https://fcm.googleapis.com/fcm/send/abc'), '{}', 'topic')).rejects.toBeInstanceOf(PushServiceUnavailableError);
  });

  it('refuses an endpoint the outbound policy never contacts (a private address)', async () => {
    const privateAddress: ResolveHost = () => Promise.resolve(['10.0.0.7']);
    expect(await senderResolving(privateAddress).send(subscription('https://push.internal.example/abc'), '{}', 'topic')).toBe('refused');
  });
});
