import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { AppError } from '../core/errors';
import { UploadsService } from '../uploads/uploads.service';
import { MessageType } from './entities/message.entity';

export interface ResolvedMedia {
  url: string;
  type: MessageType;
  name: string | null;
  size: number | null;
}

/**
 * Turns a `mediaUrl` from `message:send` into the stored upload it names, refusing anything the
 * sender did not upload themselves. The upload's kind (decided by its bytes) is the message type.
 * When a message goes, its media goes too unless something else still shows it.
 */
@Injectable()
export class MediaResolver {
  constructor(private readonly uploads: UploadsService) {}

  async resolve(userId: string, url: string): Promise<ResolvedMedia> {
    const upload = await this.uploads.findOwned(userId, url);
    if (!upload) throw new AppError('MEDIA_NOT_FOUND');
    return { url: upload.url, type: upload.kind, name: upload.name, size: upload.size };
  }

  /** Inside the transaction that deleted a message: see UploadsService.releaseMedia. */
  release(tx: EntityManager, mediaUrl: string | null): Promise<() => Promise<void>> {
    return this.uploads.releaseMedia(tx, [mediaUrl]);
  }
}
