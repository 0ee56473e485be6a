import { Injectable } from '@nestjs/common';
import { JobHandler } from '../jobs/job-handler.decorator';
import { FileStorage } from './storage/file-storage';
import { isStoredName, MEDIUM, ORIGINALS, THUMBS } from './upload-names';
import { UploadsRepository } from './uploads.repository';

export interface DeleteFilesJob {
  /** Stored names of deleted uploads (a deleted account's, or media no message shows any more). */
  names: string[];
}

declare module '../jobs/job-names' {
  interface JobPayloads {
    'delete-files': DeleteFilesJob;
  }
}

/**
 * Removes every stored form of the named files (as kept, optimised, medium, thumbnail).
 * Idempotent: a missing file is already removed. A file whose upload row still exists is kept:
 * with its owner, the deletion has not committed yet (or rolled back), and the job fails, to be
 * retried with backoff, so nobody loses a file that is still theirs. Without one, its owner's
 * account went: if something of someone else's still shows it, it stays, and that is done; if
 * nothing does, its row goes now (deleteUnreferenced, under its locks) and the file with it. That
 * last case is an account deleted by an instance of a release before ownerless uploads (it let
 * the row's owner go and left the row, still served, for a sweep whose position had passed it).
 */
@Injectable()
export class DeleteFilesProcessor {
  constructor(
    private readonly uploads: UploadsRepository,
    private readonly storage: FileStorage,
  ) {}

  @JobHandler('delete-files')
  async deleteFiles(job: DeleteFilesJob): Promise<void> {
    const names = job.names.filter(isStoredName);
    const recorded = await this.uploads.stillRecorded(names);
    const released = new Set(await this.uploads.releaseUnreferenced(recorded.filter((upload) => !upload.owned).map((upload) => upload.url)));
    const kept = new Set(recorded.map((upload) => upload.storedName).filter((name) => !released.has(name)));
    for (const name of names.filter((n) => !kept.has(n))) {
      for (const key of [name, `${ORIGINALS}/${name}`, `${MEDIUM}/${name}`, `${THUMBS}/${name}`]) await this.storage.delete(key);
    }
    const pending = recorded.filter((upload) => upload.owned).length;
    if (pending) throw new Error(`${pending} of ${names.length} file(s) still have their upload; kept for now`);
  }
}
