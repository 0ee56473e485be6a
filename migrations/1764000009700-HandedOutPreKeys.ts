import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * A one-time prekey handed out is marked (`handed_out_at`), not deleted, for a week: a replenish
 * the client sends again (its answer was lost) re-sends keys the server may have handed out since,
 * and with the row gone the server stored such a key anew and handed it out a second time (the
 * second peer's session then fails to decrypt). Marked rows are skipped by hand-outs and counts,
 * and pruned at the owner's next replenish once a week old. The partial index serves hand-outs;
 * it is built CONCURRENTLY (outside a transaction, so hand-outs and replenishes go on meanwhile;
 * a build that failed half-way leaves an invalid index, dropped first when this runs again).
 */
export class HandedOutPreKeys1764000009700 implements MigrationInterface {
  name = 'HandedOutPreKeys1764000009700';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE one_time_prekeys ADD COLUMN IF NOT EXISTS handed_out_at timestamptz`);
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS one_time_prekeys_unused_idx`);
    await q.query(`CREATE INDEX CONCURRENTLY one_time_prekeys_unused_idx ON one_time_prekeys (user_id, key_id) WHERE handed_out_at IS NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM one_time_prekeys WHERE handed_out_at IS NOT NULL`);
    await q.query(`DROP INDEX IF EXISTS one_time_prekeys_unused_idx`);
    await q.query(`ALTER TABLE one_time_prekeys DROP COLUMN handed_out_at`);
  }
}
