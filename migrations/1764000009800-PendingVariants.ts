import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Images whose variants are still `pending` long after their upload (their job was never queued,
 * or was lost with an embedded process) are queued again by the unused-uploads sweep: this
 * partial index finds the few of them without reading the uploads table. Built CONCURRENTLY
 * (uploads go on meanwhile; a build that failed half-way is dropped first when this runs again).
 */
export class PendingVariants1764000009800 implements MigrationInterface {
  name = 'PendingVariants1764000009800';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS uploads_pending_variants_idx`);
    await q.query(`CREATE INDEX CONCURRENTLY uploads_pending_variants_idx ON uploads (created_at) WHERE variants = 'pending'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS uploads_pending_variants_idx`);
  }
}
