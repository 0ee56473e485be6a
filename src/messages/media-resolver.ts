import { Injectable } from '@nestjs/common';
import { AppError } from '../core/errors';
import { MessageType } from './entities/message.entity';

export interface ResolvedMedia {
  url: string;
  type: MessageType;
  name: string | null;
  size: number | null;
}

/**
 * Turns a `mediaUrl` from `message:send` into the stored upload it names, refusing anything the
 * sender did not upload themselves.
 */
@Injectable()
export class MediaResolver {
  async resolve(_userId: string, _url: string): Promise<ResolvedMedia> {
    // Uploads are not part of this build yet: no URL can be proven to be the sender's.
    throw new AppError('MEDIA_NOT_FOUND');
  }
}
