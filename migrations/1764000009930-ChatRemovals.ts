import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Who was removed from a group (DELETE /api/chats/:id/members/:userId), so that an invite link
 * does not let them straight back in: a join by link refuses them until a manager adds them back,
 * which deletes the row. A voluntary leave records nothing. The row goes with the chat and with
 * the user's account; the index serves the account's deletion.
 */
export class ChatRemovals1764000009930 implements MigrationInterface {
  name = 'ChatRemovals1764000009930';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE chat_removals (
        chat_id uuid NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        removed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (chat_id, user_id)
      )`);
    await q.query(`CREATE INDEX chat_removals_user_idx ON chat_removals (user_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE chat_removals`);
  }
}
