import type { Readable } from 'node:stream';

/** Byte range of a read, both ends inclusive (as HTTP ranges are). */
export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Where uploaded files live, addressed by key (`<name>`, `originals/<name>`, `medium/<name>`,
 * `thumbs/<name>`). A local directory now (shared by instances as a volume); the same five
 * operations map one-to-one onto S3-compatible object storage (PutObject, GetObject with Range,
 * HeadObject, DeleteObject).
 */
export abstract class FileStorage {
  /**
   * Stores bytes under `key`, atomically: readers see the old content or the new, never a part.
   * A `{ path }` source is a finished local temp file, which is consumed (moved when possible).
   */
  abstract put(key: string, source: Buffer | { path: string }): Promise<void>;
  /** The content of `key`, or the given byte range of it. Rejects when the key does not exist. */
  abstract stream(key: string, range?: ByteRange): Promise<Readable>;
  /** Size of `key` in bytes, or null when it does not exist. */
  abstract size(key: string): Promise<number | null>;
  abstract exists(key: string): Promise<boolean>;
  /** Removes `key`; removing a missing key is not an error (deletions are retried). */
  abstract delete(key: string): Promise<void>;
}
