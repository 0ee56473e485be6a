import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `users.last_active_at`: when the account was last used (a session made or used; sessions write
 * it at most once a minute). The `autoDeleteMonths` setting deletes accounts unused for that many
 * months (InactiveAccounts); sessions cannot tell, since logging out deletes them. Existing
 * accounts start at the latest of their creation, their sessions' activity and their last time
 * online.
 */
export class AccountActivity1764000009600 implements MigrationInterface {
  name = 'AccountActivity1764000009600';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE users ADD COLUMN last_active_at timestamptz NOT NULL DEFAULT now()`);
    await q.query(`
      UPDATE users u SET last_active_at = greatest(u.created_at, u.last_online_at, (SELECT max(s.last_active_at) FROM sessions s WHERE s.user_id = u.id))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE users DROP COLUMN last_active_at`);
  }
}
