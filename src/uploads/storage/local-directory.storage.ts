import { Injectable, OnModuleInit } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { AppConfig } from '../../core/config/app-config';
import { STORAGE_AREAS, TEMP_DIR, isStorageKey } from '../upload-names';
import { ByteRange, FileStorage } from './file-storage';

/**
 * A file system failure of the storage, told by its operation and area only (`ENOTDIR: rename into
 * UPLOAD_DIR/thumbs`): Node's own message quotes the full paths (`rename '…/.tmp/put-…' ->
 * '…/thumbs/<name>'`), and a stored name is a capability (whoever has it fetches the file) that
 * logs must not hold. `code`, `errno` and `syscall` stay, for callers that branch on them (ENOENT:
 * not there; ENOSPC: the disk is full).
 */
export class StorageError extends Error {
  readonly code?: string;
  readonly errno?: number;
  readonly syscall?: string;

  constructor(operation: string, area: string, error: unknown) {
    const e = error as NodeJS.ErrnoException;
    const code = typeof e?.code === 'string' ? e.code : undefined;
    super(`${code ?? (error instanceof Error ? error.name : 'Error')}: ${operation} ${area}`);
    this.name = 'StorageError';
    if (code !== undefined) this.code = code;
    if (typeof e?.errno === 'number') this.errno = e.errno;
    if (typeof e?.syscall === 'string') this.syscall = e.syscall;
  }
}

/**
 * Files in UPLOAD_DIR, one sub-directory per area. Writes go to a temp file in the same
 * directory tree and are renamed into place, so a reader (or another instance on the shared
 * volume) never sees half a file. Keys are checked against the one key grammar before they
 * touch the file system, so no key can leave the directory. Every file system failure is a
 * StorageError, which names no file.
 */
@Injectable()
export class LocalDirectoryStorage extends FileStorage implements OnModuleInit {
  private readonly root: string;

  constructor(config: AppConfig) {
    super();
    this.root = config.values.uploadDir;
  }

  async onModuleInit(): Promise<void> {
    for (const area of [TEMP_DIR, ...STORAGE_AREAS]) await mkdir(join(this.root, area), { recursive: true });
  }

  async put(key: string, source: Buffer | { path: string }): Promise<void> {
    const target = this.pathOf(key);
    const into = areaOf(key);
    if (!Buffer.isBuffer(source)) {
      try {
        await withoutPath('rename into', into, rename(source.path, target));
        return;
      } catch (error) {
        if ((error as StorageError).code !== 'EXDEV') throw error;
      }
    }
    const temp = join(this.root, TEMP_DIR, `put-${randomBytes(12).toString('hex')}`);
    try {
      if (Buffer.isBuffer(source)) await withoutPath('write into', TEMP_AREA, writeFile(temp, source));
      else await withoutPath('copy into', TEMP_AREA, copyFile(source.path, temp));
      await withoutPath('rename into', into, rename(temp, target));
    } finally {
      await withoutPath('remove in', TEMP_AREA, rm(temp, { force: true }));
      if (!Buffer.isBuffer(source)) await withoutPath('remove in', TEMP_AREA, rm(source.path, { force: true }));
    }
  }

  async stream(key: string, range?: ByteRange): Promise<Readable> {
    const path = this.pathOf(key);
    const stream = createReadStream(path, range ? { start: range.start, end: range.end } : {});
    // Only the open quotes the path; a later read error names none.
    const opened = new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', reject);
    });
    await withoutPath('open in', areaOf(key), opened);
    return stream;
  }

  async size(key: string): Promise<number | null> {
    try {
      const info = await withoutPath('stat in', areaOf(key), stat(this.pathOf(key)));
      return info.isFile() ? info.size : null;
    } catch (error) {
      if ((error as StorageError).code === 'ENOENT') return null;
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.size(key)) !== null;
  }

  async delete(key: string): Promise<void> {
    try {
      await withoutPath('unlink in', areaOf(key), unlink(this.pathOf(key)));
    } catch (error) {
      if ((error as StorageError).code !== 'ENOENT') throw error;
    }
  }

  private pathOf(key: string): string {
    if (!isStorageKey(key)) throw new Error(`Invalid storage key ${JSON.stringify(key)}`);
    return join(this.root, key);
  }
}

const TEMP_AREA = `UPLOAD_DIR/${TEMP_DIR}`;

/** Where a key's file is, as a StorageError names it: `UPLOAD_DIR/thumbs`, or `UPLOAD_DIR` for a served file. */
function areaOf(key: string): string {
  const slash = key.indexOf('/');
  return slash === -1 ? 'UPLOAD_DIR' : `UPLOAD_DIR/${key.slice(0, slash)}`;
}

/** The file system call's result, or its failure as a StorageError naming the operation and the area. */
async function withoutPath<T>(operation: string, area: string, call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (error) {
    throw new StorageError(operation, area, error);
  }
}
