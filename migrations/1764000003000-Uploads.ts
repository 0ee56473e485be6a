import { MigrationInterface, QueryRunner } from 'typeorm';

export class Uploads1764000003000 implements MigrationInterface {
  name = 'Uploads1764000003000';

  async up(q: QueryRunner): Promise<void> {
    // Kinds and variant states are CHECKed text rather than enum types: adding a value later is
    // a constraint swap, not an ALTER TYPE that PGlite and PostgreSQL 15 treat differently.
    await q.query(`
      CREATE TABLE uploads (
        id uuid PRIMARY KEY,
        owner_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        stored_name text NOT NULL,
        original_name text NOT NULL,
        mime text NOT NULL,
        kind text NOT NULL CHECK (kind IN ('IMAGE', 'VIDEO', 'AUDIO', 'FILE')),
        size integer NOT NULL CHECK (size >= 0),
        width integer,
        height integer,
        variants text NOT NULL CHECK (variants IN ('none', 'pending', 'ready', 'failed')),
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX uploads_stored_name_key ON uploads (stored_name)`);
    await q.query(`CREATE INDEX uploads_owner_idx ON uploads (owner_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE uploads`);
  }
}
