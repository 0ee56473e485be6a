import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Uploads nothing uses are deleted (UploadsService.sweepUnused), and what a user keeps per day is
 * bounded (UPLOAD_DAILY_MB).
 *
 * - `upload_sweep` is the sweep's position: one row, the (created_at, id) of the last upload it
 *   looked at. Each upload is looked at once, when it is UPLOAD_UNUSED_HOURS old, whatever the
 *   table's size; the row's lock keeps two instances from sweeping at once. It starts at this
 *   migration: older uploads are left alone (see up()).
 * - `uploads_created_idx` serves that walk; `uploads_owner_created_idx` serves the daily sum of a
 *   user's uploads and replaces `uploads_owner_idx` (owner lookups use its first column).
 */
export class UnusedUploads1764000009300 implements MigrationInterface {
  name = 'UnusedUploads1764000009300';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX uploads_created_idx ON uploads (created_at, id)`);
    await q.query(`CREATE INDEX uploads_owner_created_idx ON uploads (owner_id, created_at)`);
    await q.query(`DROP INDEX uploads_owner_idx`);
    await q.query(`
      CREATE TABLE upload_sweep (
        one boolean PRIMARY KEY DEFAULT true CHECK (one),
        swept_until timestamptz NOT NULL DEFAULT '-infinity',
        swept_id uuid NOT NULL DEFAULT '00000000-0000-0000-0000-000000000000'
      )`);
    // From now on: an upload made before this release may be shown by a message written before
    // messages.media_url had its foreign key (rows it never checked), in a form the sweep's
    // check cannot see; those are never swept.
    await q.query(`INSERT INTO upload_sweep (swept_until) VALUES (now())`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE upload_sweep`);
    await q.query(`CREATE INDEX uploads_owner_idx ON uploads (owner_id)`);
    await q.query(`DROP INDEX uploads_owner_created_idx`);
    await q.query(`DROP INDEX uploads_created_idx`);
  }
}
