import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An image's WebP variants take disk beside its original: `variant_bytes` records what its
 * variants job wrote, and the daily upload quota counts it with `size` (a heavily compressed
 * upload could otherwise fill several times the quota: its variants alone were several times
 * its bytes). Adding a column with a constant default rewrites nothing.
 */
export class UploadVariantBytes1764000009900 implements MigrationInterface {
  name = 'UploadVariantBytes1764000009900';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE uploads ADD COLUMN variant_bytes bigint NOT NULL DEFAULT 0`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE uploads DROP COLUMN variant_bytes`);
  }
}
