import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Small primitives keyed by the server secret (APP_SECRET): HMAC for values stored as hashes
 * (OTP codes), and AES-256-GCM for short values that must travel through a queue unreadable.
 */
export class SecretBox {
  private readonly macKey: Buffer;
  private readonly encKey: Buffer;

  constructor(secret: string) {
    this.macKey = createHash('sha256').update(`mac:${secret}`).digest();
    this.encKey = createHash('sha256').update(`enc:${secret}`).digest();
  }

  hmac(value: string): string {
    return createHmac('sha256', this.macKey).update(value).digest('base64url');
  }

  /** Constant-time comparison of a candidate against a stored HMAC. */
  verify(candidate: string, storedHmac: string): boolean {
    const a = Buffer.from(this.hmac(candidate));
    const b = Buffer.from(storedHmac);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  seal(plain: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.encKey, iv);
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
  }

  open(sealed: string): string {
    const raw = Buffer.from(sealed, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', this.encKey, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }
}

/** SHA-256 of a high-entropy token (session tokens): no secret needed, lookups stay indexable. */
export const sha256 = (value: string): string => createHash('sha256').update(value).digest('base64url');
