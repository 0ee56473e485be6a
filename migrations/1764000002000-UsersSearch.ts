import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Nickname search "contains" matches: a trigram index on lower(nickname) serves
 * `lower(nickname) LIKE '%abc%'` for queries of 3+ characters (prefix matches already use
 * users_nickname_lower_prefix_idx). pg_trgm is a trusted extension: the database owner may
 * create it; PGlite loads it in src/core/database/pglite-driver.ts.
 */
export class UsersSearch1764000002000 implements MigrationInterface {
  name = 'UsersSearch1764000002000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE EXTENSION IF NOT EXISTS pg_trgm`);
    await q.query(`CREATE INDEX users_nickname_trgm_idx ON users USING gin (lower(nickname) gin_trgm_ops)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX users_nickname_trgm_idx`);
    await q.query(`DROP EXTENSION IF EXISTS pg_trgm`);
  }
}
