import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * An upload outlives its owner's account while something of someone else's still shows it: a
 * message forwarded from theirs, or a group's avatar they set. Its owner becomes null (the
 * account is gone); it is deleted when the last thing showing it goes (UploadsService.releaseMedia).
 * Before, the account's uploads went with it by cascade, which a forwarded copy's foreign key
 * refused: the deletion failed, for good, once anyone had forwarded one of the user's files.
 */
export class OwnerlessUploads1764000009500 implements MigrationInterface {
  name = 'OwnerlessUploads1764000009500';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE uploads ALTER COLUMN owner_id DROP NOT NULL`);
    await q.query(`ALTER TABLE uploads DROP CONSTRAINT uploads_owner_id_fkey`);
    // NOT VALID: every row already met the same key; checking them all would hold this lock on
    // uploads for a scan of the table. Validated without it by the next migration.
    await q.query(`ALTER TABLE uploads ADD CONSTRAINT uploads_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE SET NULL NOT VALID`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DELETE FROM uploads WHERE owner_id IS NULL`);
    await q.query(`ALTER TABLE uploads DROP CONSTRAINT uploads_owner_id_fkey`);
    await q.query(`ALTER TABLE uploads ADD CONSTRAINT uploads_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE`);
    await q.query(`ALTER TABLE uploads ALTER COLUMN owner_id SET NOT NULL`);
  }
}
