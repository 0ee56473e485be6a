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

/** An encrypted upload as a secret chat message shows it: the server knows its blob, not what it holds. */
export interface ResolvedBlob {
  url: string;
  name: string;
  size: number;
}

/**
 * Turns a `mediaUrl` from `message:send` into the stored upload it names, refusing anything the
 * sender did not upload themselves. A plain upload's kind (decided by its bytes) is the message
 * type, and it is for the other chats only; an encrypted upload (POST /api/upload/encrypted) is
 * for secret chats only, since nobody in another chat could read it. When a message goes, its
 * media goes too unless something else still shows it.
 */
@Injectable()
export class MediaResolver {
  constructor(private readonly uploads: UploadsService) {}

  async resolve(userId: string, url: string): Promise<ResolvedMedia> {
    const upload = await this.uploads.findOwned(userId, url);
    if (!upload) throw new AppError('MEDIA_NOT_FOUND');
    if (upload.encrypted) throw new AppError('MEDIA_NOT_FOUND', 'An encrypted upload can only be sent in a secret chat');
    return { url: upload.url, type: upload.kind, name: upload.name, size: upload.size };
  }

  /** Secret chats (§8.3): the sender's own encrypted upload, else MEDIA_NOT_FOUND. */
  async resolveEncrypted(userId: string, url: string): Promise<ResolvedBlob> {
    const upload = await this.uploads.findOwned(userId, url);
    if (!upload?.encrypted) throw new AppError('MEDIA_NOT_FOUND', 'Media in a secret chat must be an encrypted upload of yours');
    return { url: upload.url, name: upload.name, size: upload.size };
  }

  /** Inside the transaction that deleted a message: see UploadsService.releaseMedia. */
  release(tx: EntityManager, mediaUrl: string | null): Promise<() => Promise<void>> {
    return this.uploads.releaseMedia(tx, [mediaUrl]);
  }
}
