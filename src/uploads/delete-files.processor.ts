import { Injectable } from '@nestjs/common';
import { JobHandler } from '../jobs/job-handler.decorator';
import { FileStorage } from './storage/file-storage';
import { isStoredName, MEDIUM, ORIGINALS, THUMBS } from './upload-names';
import { UploadsRepository } from './uploads.repository';

export interface DeleteFilesJob {
  /** The account whose files these are; nothing is removed while it still exists. */
  ownerId: string;
  names: string[];
}

declare module '../jobs/job-names' {
  interface JobPayloads {
    'delete-files': DeleteFilesJob;
  }
}

/**
 * Removes every stored form of the named files (as uploaded, optimised, medium, thumbnail).
 * Idempotent: a missing file is already removed. While the account still exists (the deletion
 * has not committed yet, or rolled back) the job fails and is retried with backoff, so a user
 * who is not deleted keeps their files.
 */
@Injectable()
export class DeleteFilesProcessor {
  constructor(
    private readonly uploads: UploadsRepository,
    private readonly storage: FileStorage,
  ) {}

  @JobHandler('delete-files')
  async deleteFiles(job: DeleteFilesJob): Promise<void> {
    if (await this.uploads.ownerExists(job.ownerId)) throw new Error(`account ${job.ownerId} still exists; its files are kept for now`);
    for (const name of job.names.filter(isStoredName)) {
      for (const key of [name, `${ORIGINALS}/${name}`, `${MEDIUM}/${name}`, `${THUMBS}/${name}`]) await this.storage.delete(key);
    }
  }
}
