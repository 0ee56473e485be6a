import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import { firstCodePoints } from '../core/text/code-points';
import { withoutControls } from '../core/text/display-text';

/**
 * Names and places of stored files, in one spot so the storage, the routes and the URL parser
 * agree. A stored name is random (never the client's) and carries the extension of the
 * sniffed type, or `enc` for a secret chat's encrypted blob: `[A-Za-z0-9_-]+\.[a-z0-9]+`.
 * Anything else is not a name and answers 404.
 */
export const STORED_NAME = /^[A-Za-z0-9_-]+\.[a-z0-9]+$/;

/** Where the image as uploaded is kept (never served under its own URL once variants exist). */
export const ORIGINALS = 'originals';
export const MEDIUM = 'medium';
export const THUMBS = 'thumbs';
export const STORAGE_AREAS = [ORIGINALS, MEDIUM, THUMBS] as const;
/** Multer's landing directory inside UPLOAD_DIR (same file system, so storing is a rename). */
export const TEMP_DIR = '.tmp';

export type VariantArea = typeof MEDIUM | typeof THUMBS;

export const isStoredName = (name: unknown): name is string => typeof name === 'string' && name.length <= 64 && STORED_NAME.test(name);

export function isStorageKey(key: string): boolean {
  const slash = key.indexOf('/');
  if (slash === -1) return isStoredName(key);
  return (STORAGE_AREAS as readonly string[]).includes(key.slice(0, slash)) && isStoredName(key.slice(slash + 1));
}

/** 128 random bits, URL-safe, plus the sniffed extension. */
export const newStoredName = (ext: string): string => `${randomBytes(16).toString('base64url')}.${ext}`;

export const extOf = (name: string): string => name.slice(name.lastIndexOf('.') + 1);

/**
 * The extension of an encrypted upload (POST /api/upload/encrypted): opaque bytes a secret chat's
 * members decrypt themselves. No sniffed type has it, so the stored name alone tells an encrypted
 * upload from a plain one, for serving and for message:send alike.
 */
export const ENCRYPTED_EXT = 'enc';
export const isEncryptedName = (name: string): boolean => extOf(name) === ENCRYPTED_EXT;

export const urlOf = (name: string): string => `/uploads/${name}`;
export const variantUrlOf = (area: VariantArea, name: string): string => `/uploads/${area}/${name}`;

const UPLOAD_URL = /^\/uploads\/(?:(?:medium|thumbs)\/)?([^/]+)$/;

/** The stored name behind `/uploads/<name>`, `/uploads/medium/<name>` or `/uploads/thumbs/<name>`; null otherwise. */
export function storedNameFromUrl(url: unknown): string | null {
  if (typeof url !== 'string') return null;
  const match = UPLOAD_URL.exec(url);
  return match && isStoredName(match[1]) ? match[1] : null;
}

/**
 * A name a client gave a file (an upload's, or a message's mediaName), as metadata shown to others:
 * the last path segment, without control characters (C0, DEL, C1) or the bidirectional controls
 * that make `gnp.exe` read as `exe.png`, well-formed (a lone surrogate, which a multipart
 * `filename*` in UTF-16 can carry, becomes U+FFFD, as PostgreSQL would store it), trimmed, at
 * most 255 code points. Empty when nothing is left.
 */
export function fileNameOf(name: string): string {
  return firstCodePoints(
    withoutControls(basename(name.replace(/\\/g, '/')))
      .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
      .trim(),
    255,
  );
}
