import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `users.last_active_at`: when the account was last used (a session made or used; sessions write
 * it at most once a minute). The `autoDeleteMonths` setting deletes accounts unused for that many
 * months (InactiveAccounts); sessions cannot tell, since logging out deletes them.
 *
 * Every existing account starts at this migration (a constant default: no table rewrite, and the
 * lock is brief): the setting did nothing before, so its months count from the release that made
 * it work, and nobody is deleted at the first run for inactivity they never knew would count.
 */
export class AccountActivity1764000009600 implements MigrationInterface {
  name = 'AccountActivity1764000009600';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE users ADD COLUMN last_active_at timestamptz NOT NULL DEFAULT now()`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE users DROP COLUMN last_active_at`);
  }
}
