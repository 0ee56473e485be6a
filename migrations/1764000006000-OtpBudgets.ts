import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Per-email sign-in budgets: codes sent and wrong codes entered, each counted over its own
 * window, from any client IP. A row outlives the codes it counted (a burned or expired code must
 * not reset the budget); a successful sign-in deletes it.
 */
export class OtpBudgets1764000006000 implements MigrationInterface {
  name = 'OtpBudgets1764000006000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE otp_budgets (
        email text PRIMARY KEY,
        sends int NOT NULL DEFAULT 0,
        sends_since timestamptz NOT NULL DEFAULT now(),
        wrong_codes int NOT NULL DEFAULT 0,
        wrong_since timestamptz NOT NULL DEFAULT now()
      )`);
    // Every pending code has a budget row, so checks can lock the budget before the code.
    await q.query(`INSERT INTO otp_budgets (email, sends, sends_since, wrong_codes) SELECT email, 1, sent_at, attempts FROM otp_codes`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE otp_budgets`);
  }
}
