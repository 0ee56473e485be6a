import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DeleteFilesProcessor } from './delete-files.processor';
import { UploadEntity } from './entities/upload.entity';
import { ImageVariantsProcessor } from './image-variants.processor';
import { FileStorage } from './storage/file-storage';
import { LocalDirectoryStorage } from './storage/local-directory.storage';
import { UploadedFilesController } from './uploaded-files.controller';
import { UploadsController } from './uploads.controller';
import { UploadsRepository } from './uploads.repository';
import { UploadsService } from './uploads.service';
import { UnusedUploadsSweeper } from './unused-uploads.sweeper';

/**
 * Uploads: files checked by their bytes, kept under random names in FileStorage (UPLOAD_DIR),
 * served at /uploads/*; image variants and account clean-up run as jobs on the `media` queue.
 * Uploads nothing uses within UPLOAD_UNUSED_HOURS are swept (UnusedUploadsSweeper); what one
 * user keeps per day is bounded by UPLOAD_DAILY_MB.
 * Exports UploadsService (`findOwned`, `deleteAllOf`) for messages and users.
 */
@Module({
  imports: [TypeOrmModule.forFeature([UploadEntity])],
  controllers: [UploadsController, UploadedFilesController],
  providers: [
    UploadsRepository,
    UploadsService,
    ImageVariantsProcessor,
    DeleteFilesProcessor,
    UnusedUploadsSweeper,
    { provide: FileStorage, useClass: LocalDirectoryStorage },
  ],
  exports: [UploadsService],
})
export class UploadsModule {}
