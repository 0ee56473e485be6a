import { createECDH, randomBytes } from 'node:crypto';
import { parseWebSubscription } from './web-subscription';

describe('parseWebSubscription', () => {
  const p256dh = (() => {
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    return ecdh.getPublicKey().toString('base64url');
  })();
  const auth = randomBytes(16).toString('base64url');
  const token = (value: unknown) => JSON.stringify(value);

  it('reads the JSON a browser PushSubscription serialises to', () => {
    const endpoint = 'https://push.example.com/send/abc?x=1';
    expect(parseWebSubscription(token({ endpoint, expirationTime: null, keys: { p256dh, auth } }))).toEqual({ endpoint, p256dh, auth });
  });

  it('keeps the endpoint as the URL parser writes it: a NUL or an unpaired surrogate in it arrives percent-encoded, never raw', () => {
    const parsed = parseWebSubscription(token({ endpoint: 'https://1.1.1.1/a\u0000b\ud800c', keys: { p256dh, auth } }));
    expect(parsed).toEqual({ endpoint: 'https://1.1.1.1/a%00b%EF%BF%BDc', p256dh, auth });
  });

  it.each([
    ['not JSON', 'endpoint=https://x'],
    ['an array', '[]'],
    ['no endpoint', token({ keys: { p256dh, auth } })],
    ['an http endpoint', token({ endpoint: 'http://push.example.com/x', keys: { p256dh, auth } })],
    ['a file endpoint', token({ endpoint: 'file:///etc/passwd', keys: { p256dh, auth } })],
    ['credentials in the endpoint', token({ endpoint: 'https://u:p@push.example.com/x', keys: { p256dh, auth } })],
    ['no keys', token({ endpoint: 'https://push.example.com/x' })],
    ['a short p256dh', token({ endpoint: 'https://push.example.com/x', keys: { p256dh: 'BAAA', auth } })],
    ['a p256dh off the curve', token({ endpoint: 'https://push.example.com/x', keys: { p256dh: Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)]).toString('base64url'), auth } })],
    ['a short auth', token({ endpoint: 'https://push.example.com/x', keys: { p256dh, auth: 'abc' } })],
    ['a numeric auth', token({ endpoint: 'https://push.example.com/x', keys: { p256dh, auth: 12 } })],
  ])('refuses %s', (_label, value) => {
    expect(parseWebSubscription(value)).toHaveProperty('problem');
  });
});
