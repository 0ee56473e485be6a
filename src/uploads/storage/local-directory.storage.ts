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
 * Files in UPLOAD_DIR, one sub-directory per area. Writes go to a temp file in the same
 * directory tree and are renamed into place, so a reader (or another instance on the shared
 * volume) never sees half a file. Keys are checked against the one key grammar before they
 * touch the file system, so no key can leave the directory.
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
    if (!Buffer.isBuffer(source)) {
      try {
        await rename(source.path, target);
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
      }
    }
    const temp = join(this.root, TEMP_DIR, `put-${randomBytes(12).toString('hex')}`);
    try {
      if (Buffer.isBuffer(source)) await writeFile(temp, source);
      else await copyFile(source.path, temp);
      await rename(temp, target);
    } finally {
      await rm(temp, { force: true });
      if (!Buffer.isBuffer(source)) await rm(source.path, { force: true });
    }
  }

  async stream(key: string, range?: ByteRange): Promise<Readable> {
    const path = this.pathOf(key);
    const stream = createReadStream(path, range ? { start: range.start, end: range.end } : {});
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', reject);
    });
    return stream;
  }

  async size(key: string): Promise<number | null> {
    try {
      const info = await stat(this.pathOf(key));
      return info.isFile() ? info.size : null;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    return (await this.size(key)) !== null;
  }

  async delete(key: string): Promise<void> {
    try {
      await unlink(this.pathOf(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  private pathOf(key: string): string {
    if (!isStorageKey(key)) throw new Error(`Invalid storage key ${JSON.stringify(key)}`);
    return join(this.root, key);
  }
}
