import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Validates the uploads' owner key that 1764000009500 added NOT VALID, outside a transaction: the
 * scan takes a lock that reads and writes of uploads do not wait for.
 */
export class ValidateUploadOwners1764000009510 implements MigrationInterface {
  name = 'ValidateUploadOwners1764000009510';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE uploads VALIDATE CONSTRAINT uploads_owner_id_fkey`);
  }

  async down(): Promise<void> {
    // Nothing to undo: a validated key is the same key.
  }
}
