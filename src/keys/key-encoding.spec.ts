import { decodeBase64, isPublicKey, isSignature } from './key-encoding';

const key = Buffer.concat([Buffer.from([0x05]), Buffer.alloc(32, 7)]);

describe('key encoding', () => {
  it('accepts a 33-byte key with the 0x05 type byte as padded base64', () => {
    expect(isPublicKey(key.toString('base64'))).toBe(true);
  });

  it('refuses unpadded, url-safe, whitespace or non-canonical spellings', () => {
    const text = key.toString('base64');
    // 33 bytes need no padding; a 64-byte signature does.
    const signature = Buffer.alloc(64, 9).toString('base64');
    expect(signature.endsWith('==')).toBe(true);
    expect(isSignature(signature.replace(/=+$/, ''))).toBe(false);
    expect(isPublicKey(`${text}=`)).toBe(false);
    const slashes = Buffer.concat([Buffer.from([0x05]), Buffer.alloc(32, 0xff)]);
    expect(isPublicKey(slashes.toString('base64'))).toBe(true);
    expect(isPublicKey(slashes.toString('base64url'))).toBe(false);
    expect(isPublicKey(` ${text}`)).toBe(false);
    expect(isPublicKey(`${text}\n`)).toBe(false);
    // 'BQ==' is one byte 0x05; 'BR==' decodes to the same byte with stray low bits.
    expect(decodeBase64('BQ==')).toEqual(Buffer.from([5]));
    expect(decodeBase64('BR==')).toBeNull();
  });

  it('refuses keys of the wrong length or type byte, and non-strings', () => {
    expect(isPublicKey(key.subarray(1).toString('base64'))).toBe(false);
    expect(isPublicKey(Buffer.concat([key, Buffer.from([0])]).toString('base64'))).toBe(false);
    expect(isPublicKey(Buffer.concat([Buffer.from([0x06]), key.subarray(1)]).toString('base64'))).toBe(false);
    expect(isPublicKey(42)).toBe(false);
    expect(isPublicKey(null)).toBe(false);
  });

  it('accepts 64-byte signatures only', () => {
    expect(isSignature(Buffer.alloc(64, 1).toString('base64'))).toBe(true);
    expect(isSignature(Buffer.alloc(63, 1).toString('base64'))).toBe(false);
    expect(isSignature(Buffer.alloc(65, 1).toString('base64'))).toBe(false);
  });
});
