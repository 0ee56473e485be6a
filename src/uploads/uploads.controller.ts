import { Controller, HttpCode, Post, Req, UseInterceptors } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiCookieAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Request } from 'express';
import { Auth, AuthContext } from '../auth/auth-context';
import { ApiEnvelope, ApiErrors } from '../core/http/api-docs';
import { AvatarResultDto, EncryptedUploadBodyDto, EncryptedUploadResultDto, FileUploadBodyDto, UploadResultDto } from './dto/upload.dto';
import { FileUpload } from './file-upload.interceptor';
import { MAX_AVATAR_BYTES, MAX_ENCRYPTED_BYTES, MAX_UPLOAD_BYTES, UploadsService } from './uploads.service';

@ApiTags('uploads')
@ApiCookieAuth()
@Controller('api/upload')
export class UploadsController {
  constructor(private readonly uploads: UploadsService) {}

  @Post()
  @HttpCode(201)
  @UseInterceptors(FileUpload(MAX_UPLOAD_BYTES))
  @ApiConsumes('multipart/form-data')
  @ApiBody({ type: FileUploadBodyDto })
  @ApiOperation({
    summary: 'Upload a file (max 20 MB): JPEG, PNG, GIF, WebP, MP4, WebM, MP3, OGG, PDF, TXT, ZIP, DOC, DOCX, decided by its bytes',
    description:
      'Images are kept without their metadata (EXIF with GPS, XMP, IPTC, comments; turned upright by their EXIF orientation) and answer at once; ' +
      'their WebP variants (optimised, medium 800 px, thumbnail 200 px) follow from a job.',
  })
  @ApiEnvelope(UploadResultDto, { status: 201 })
  @ApiErrors('UNAUTHORIZED', 'BAD_REQUEST', 'VALIDATION_ERROR', 'FILE_TOO_LARGE', 'UNSUPPORTED_FILE_TYPE', 'IMAGE_TOO_LARGE', 'INVALID_IMAGE', 'RATE_LIMIT', 'UPLOAD_QUOTA_EXCEEDED', 'SERVICE_UNAVAILABLE')
  upload(@Auth() auth: AuthContext, @Req() request: Request): Promise<UploadResultDto> {
    return this.uploads.upload(auth.userId, request.file);
  }

  @Post('avatar')
  @HttpCode(201)
  @UseInterceptors(FileUpload(MAX_AVATAR_BYTES))
  @ApiConsumes('multipart/form-data')
  @ApiBody({ type: FileUploadBodyDto })
  @ApiOperation({ summary: 'Upload an avatar image (max 10 MB), cropped to 400×400 WebP; the URL works at once' })
  @ApiEnvelope(AvatarResultDto, { status: 201 })
  @ApiErrors('UNAUTHORIZED', 'BAD_REQUEST', 'VALIDATION_ERROR', 'FILE_TOO_LARGE', 'UNSUPPORTED_FILE_TYPE', 'IMAGE_TOO_LARGE', 'INVALID_IMAGE', 'RATE_LIMIT', 'UPLOAD_QUOTA_EXCEEDED', 'SERVICE_UNAVAILABLE')
  uploadAvatar(@Auth() auth: AuthContext, @Req() request: Request): Promise<AvatarResultDto> {
    return this.uploads.uploadAvatar(auth.userId, request.file);
  }

  /**
   * Not exempt from the client header, unlike POST /api/upload: the web client sends this one
   * through request(), with `X-Requested-With: H2V` (wire contract v2.2 §9).
   */
  @Post('encrypted')
  @HttpCode(201)
  @UseInterceptors(FileUpload(MAX_ENCRYPTED_BYTES))
  @ApiConsumes('multipart/form-data')
  @ApiBody({ type: EncryptedUploadBodyDto })
  @ApiOperation({
    summary: 'Upload a secret chat’s encrypted media (max 100 MB), stored byte for byte under a random `.enc` name',
    description:
      'No type check and no processing: the bytes are opaque to the server. The URL is served as `application/octet-stream` ' +
      '(`Content-Disposition: attachment`, `nosniff`) and is accepted as `mediaUrl` only by `message:send` in a SECRET chat, from its uploader. ' +
      'A cookie-authenticated request must send `X-Requested-With: H2V`.',
  })
  @ApiEnvelope(EncryptedUploadResultDto, { status: 201 })
  @ApiErrors('UNAUTHORIZED', 'CSRF_REJECTED', 'BAD_REQUEST', 'VALIDATION_ERROR', 'FILE_TOO_LARGE', 'RATE_LIMIT', 'UPLOAD_QUOTA_EXCEEDED')
  uploadEncrypted(@Auth() auth: AuthContext, @Req() request: Request): Promise<EncryptedUploadResultDto> {
    return this.uploads.uploadEncrypted(auth.userId, request.file);
  }
}
