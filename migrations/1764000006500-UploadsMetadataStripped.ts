import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `uploads.metadata_stripped`: the image's stored original had its metadata (EXIF with GPS, XMP,
 * IPTC) removed before the upload was answered. Images stored before that was done keep false
 * and are never served as uploaded, only through their WebP variants.
 */
export class UploadsMetadataStripped1764000006500 implements MigrationInterface {
  name = 'UploadsMetadataStripped1764000006500';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE uploads ADD COLUMN metadata_stripped boolean NOT NULL DEFAULT false`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE uploads DROP COLUMN metadata_stripped`);
  }
}
