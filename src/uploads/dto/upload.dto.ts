import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { UPLOAD_KINDS, UploadKind } from '../media-types';
import { UploadEntity } from '../entities/upload.entity';
import { MEDIUM, THUMBS, urlOf, variantUrlOf } from '../upload-names';

/** The multipart body, for the API docs (multer reads it; there is no JSON body to validate). */
export class FileUploadBodyDto {
  @ApiProperty({ type: 'string', format: 'binary', description: 'The file; its type is decided by its bytes' })
  file: unknown;
}

export class UploadResultDto {
  @ApiProperty({ example: '/uploads/3q2-7wEAAAA_Qm9iAAAAAA.jpg', description: 'Relative URL of the file (for images: WebP once optimised)' })
  url: string;

  @ApiProperty({ enum: UPLOAD_KINDS, description: 'Decides the message type; an audio-only WebM is AUDIO' })
  type: UploadKind;

  @ApiProperty({ example: 'holiday.jpg', description: 'The name the client gave (metadata only)' })
  name: string;

  @ApiProperty({ example: 183_204, description: 'Size in bytes as uploaded' })
  size: number;

  @ApiPropertyOptional({ example: '/uploads/medium/3q2-7wEAAAA_Qm9iAAAAAA.jpg', description: 'Images: 800 px WebP (answers with the original until made)' })
  mediumUrl?: string;

  @ApiPropertyOptional({ example: '/uploads/thumbs/3q2-7wEAAAA_Qm9iAAAAAA.jpg', description: 'Images: 200 px WebP (answers with the original until made)' })
  thumbUrl?: string;
}

/** The multipart body of POST /api/upload/encrypted. */
export class EncryptedUploadBodyDto {
  @ApiProperty({ type: 'string', format: 'binary', description: 'The encrypted bytes (the web client names the part `<original name>.enc`); stored as sent' })
  file: unknown;
}

export class EncryptedUploadResultDto {
  @ApiProperty({ example: '/uploads/3q2-7wEAAAA_Qm9iAAAAAA.enc', description: 'Relative URL of the blob, served as application/octet-stream (attachment); the mediaUrl of a secret chat message' })
  url: string;

  @ApiProperty({ example: 'holiday.jpg.enc', description: 'The part’s file name (metadata only)' })
  name: string;

  @ApiProperty({ example: 183_220, description: 'Size in bytes of the blob as uploaded' })
  size: number;
}

export class AvatarResultDto {
  @ApiProperty({ example: '/uploads/Qm9iAAAAAA3q2-7wEAAAA_.webp', description: '400×400 WebP, served at once' })
  url: string;
}

export function toUploadResult(upload: Pick<UploadEntity, 'storedName' | 'kind' | 'originalName' | 'size'>): UploadResultDto {
  const result: UploadResultDto = { url: urlOf(upload.storedName), type: upload.kind, name: upload.originalName, size: upload.size };
  if (upload.kind === 'IMAGE') {
    result.mediumUrl = variantUrlOf(MEDIUM, upload.storedName);
    result.thumbUrl = variantUrlOf(THUMBS, upload.storedName);
  }
  return result;
}
