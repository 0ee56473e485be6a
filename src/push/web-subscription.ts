import { ECDH } from 'node:crypto';

/** A browser's PushSubscription as the web client sends it (the JSON of `PushSubscription`, §12). */
export interface WebSubscription {
  endpoint: string;
  /** The browser's P-256 public key (65 bytes uncompressed), base64url. */
  p256dh: string;
  /** The 16-byte authentication secret, base64url. */
  auth: string;
}

const BASE64URL = /^[A-Za-z0-9_-]+={0,2}$/;

/**
 * Reads a WEB device token: JSON with an https `endpoint` and both `keys`, of the sizes the
 * payload encryption (RFC 8291) needs, so a stored subscription can always be encrypted to.
 * Resolves the subscription or the reason it is refused.
 */
export function parseWebSubscription(token: string): WebSubscription | { problem: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(token);
  } catch {
    return { problem: 'a WEB token must be the JSON of a PushSubscription' };
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return { problem: 'a WEB token must be the JSON of a PushSubscription' };
  const { endpoint, keys } = parsed as { endpoint?: unknown; keys?: unknown };
  if (typeof endpoint !== 'string') return { problem: 'the subscription needs an endpoint' };
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return { problem: 'the subscription endpoint must be an https URL' };
  }
  if (url.protocol !== 'https:' || url.username || url.password) return { problem: 'the subscription endpoint must be an https URL' };
  if (!keys || typeof keys !== 'object') return { problem: 'the subscription needs keys.p256dh and keys.auth' };
  const { p256dh, auth } = keys as { p256dh?: unknown; auth?: unknown };
  const publicKey = typeof p256dh === 'string' && BASE64URL.test(p256dh) ? Buffer.from(p256dh, 'base64url') : null;
  if (!publicKey || publicKey.length !== 65 || publicKey[0] !== 4 || !onCurve(publicKey)) return { problem: 'keys.p256dh must be a base64url P-256 public key' };
  const secret = typeof auth === 'string' && BASE64URL.test(auth) ? Buffer.from(auth, 'base64url') : null;
  if (!secret || secret.length !== 16) return { problem: 'keys.auth must be a base64url 16-byte secret' };
  // As the URL parser wrote it: what a push goes to, percent-encoded (a NUL or an unpaired surrogate
  // inside the token's JSON string passed the body's checks, and PostgreSQL refused or altered it).
  return { endpoint: url.href, p256dh: publicKey.toString('base64url'), auth: secret.toString('base64url') };
}

/** Whether the bytes are a point of P-256 (payload encryption derives a secret from it). */
function onCurve(publicKey: Buffer): boolean {
  try {
    ECDH.convertKey(publicKey, 'prime256v1');
    return true;
  } catch {
    return false;
  }
}
