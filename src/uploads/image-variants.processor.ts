import { Injectable, Logger } from '@nestjs/common';
import { buffer } from 'node:stream/consumers';
import { JobHandler } from '../jobs/job-handler.decorator';
import { PermanentJobError } from '../jobs/job-queue';
import { CorruptImageError, makeOptimised, makePreviews } from './image-processing';
import { FileStorage } from './storage/file-storage';
import { MEDIUM, ORIGINALS, THUMBS } from './upload-names';
import { UploadsRepository } from './uploads.repository';

export interface ImageVariantsJob {
  uploadId: string;
}

declare module '../jobs/job-names' {
  interface JobPayloads {
    'image-variants': ImageVariantsJob;
  }
}

/** Animated inputs that keep their animation in the optimised original. */
const ANIMATED_MIMES = new Set(['image/gif', 'image/webp']);

/**
 * Makes an image's WebP variants from the stored original: `thumbs/<name>` and `medium/<name>`
 * first (chats show those first), then the optimised original served at `/uploads/<name>`. Idempotent: every write replaces the
 * file atomically, so a retry or a second run leaves the same result. The original it reads was
 * stripped of its metadata at upload, and the variants are written without any. An image that
 * does not decode at all fails the job for good (the stripped original stays served); storage
 * trouble is retried.
 */
@Injectable()
export class ImageVariantsProcessor {
  private readonly logger = new Logger('ImageVariants');

  constructor(
    private readonly uploads: UploadsRepository,
    private readonly storage: FileStorage,
  ) {}

  @JobHandler('image-variants')
  async makeVariants(job: ImageVariantsJob): Promise<void> {
    const upload = await this.uploads.findById(job.uploadId);
    if (!upload || upload.kind !== 'IMAGE' || upload.variants === 'ready') return;
    const originalKey = `${ORIGINALS}/${upload.storedName}`;
    // Nothing to make them from: failed for good (not left pending, to be queued again by the sweep).
    if (!(await this.storage.exists(originalKey))) return void (await this.uploads.setVariants(upload.id, 'failed'));
    const source = await buffer(await this.storage.stream(originalKey));
    const written = [`${THUMBS}/${upload.storedName}`, `${MEDIUM}/${upload.storedName}`, upload.storedName];
    let variantBytes = 0;
    try {
      const previews = await makePreviews(source);
      const optimised = await makeOptimised(source, ANIMATED_MIMES.has(upload.mime));
      await this.storage.put(written[0], previews.thumb);
      await this.storage.put(written[1], previews.medium);
      await this.storage.put(written[2], optimised);
      variantBytes = previews.thumb.length + previews.medium.length + optimised.length;
    } catch (error) {
      const corrupt = error instanceof CorruptImageError;
      // Some variants may be written already: if the upload went meanwhile, nobody else removes them.
      const kept = corrupt ? await this.uploads.setVariants(upload.id, 'failed') : (await this.uploads.findById(upload.id)) !== null;
      if (!kept) return this.removeOrphans(upload.id, [...written, originalKey]);
      // Named by its id: the stored name is the URL the original is still served at.
      if (corrupt) throw new PermanentJobError(`upload ${upload.id}: ${error.message}`);
      throw error;
    }
    // The daily quota counts them from now on.
    if (!(await this.uploads.setVariants(upload.id, 'ready', variantBytes))) await this.removeOrphans(upload.id, [...written, originalKey]);
  }

  /**
   * The upload was deleted while this ran (its account, or its last message, went): the
   * delete-files job may already be done, and would not have found the variants written since.
   */
  private async removeOrphans(uploadId: string, keys: string[]): Promise<void> {
    for (const key of keys) await this.storage.delete(key);
    // Named by its id: the stored name is a capability (whoever has it fetches the file).
    this.logger.debug(`upload ${uploadId} gone, its files removed`);
  }
}
