/**
 * The byte formats of Signal Protocol public material as libsignal serialises it: a Curve25519
 * public key is 33 bytes, the type byte 0x05 followed by the 32-byte key; an XEdDSA signature is
 * 64 bytes. Clients send them as padded base64.
 */
export const PUBLIC_KEY_BYTES = 33;
export const DJB_KEY_TYPE = 0x05;
export const SIGNATURE_BYTES = 64;

/**
 * Registration ids are 14 bits. The JavaScript libsignal the web client uses makes them as
 * `random & 0x3fff`, 0 and 16381-16383 included (Java's stays within 1-16380): the whole range is
 * taken, or about one device in 4,096 could never upload its bundle.
 */
export const MAX_REGISTRATION_ID = 0x3fff;
/** Prekey ids are 24-bit (libsignal's `Medium.MAX_VALUE`). */
export const MAX_PREKEY_ID = 0xffffff;
export const MAX_PREKEYS_PER_CALL = 200;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The decoded bytes of canonical padded base64, or null. Canonical means it re-encodes to the
 * same text (no stray bits in the last character), so a stored key is exactly what was sent and
 * two spellings of one key cannot both exist.
 */
export function decodeBase64(value: unknown): Buffer | null {
  if (typeof value !== 'string' || !BASE64.test(value)) return null;
  const bytes = Buffer.from(value, 'base64');
  return bytes.toString('base64') === value ? bytes : null;
}

export function isPublicKey(value: unknown): boolean {
  const bytes = decodeBase64(value);
  return bytes !== null && bytes.length === PUBLIC_KEY_BYTES && bytes[0] === DJB_KEY_TYPE;
}

export function isSignature(value: unknown): boolean {
  return decodeBase64(value)?.length === SIGNATURE_BYTES;
}
