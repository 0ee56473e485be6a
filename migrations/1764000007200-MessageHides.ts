import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * "Delete for me": a message hidden by one member stays for everyone else.
 *
 * - `message_hides` is keyed by (user, chat, seq): history pages probe it by that key per row,
 *   and a member's unread count subtracts the range of their hidden sequence numbers past their
 *   read watermark (an index range, like deleted_message_seqs). The row goes with its message
 *   (a delete for everyone), so a number is never subtracted twice.
 * - `chat_members.hides_messages` is set on a member's first hide in a chat and never cleared:
 *   the chat list and history skip every hide lookup for the members who never hid anything
 *   (nearly all of them), so the common path costs what it did before.
 */
export class MessageHides1764000007200 implements MigrationInterface {
  name = 'MessageHides1764000007200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE message_hides (
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        chat_id uuid NOT NULL,
        seq bigint NOT NULL,
        message_id uuid NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        hidden_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (user_id, chat_id, seq)
      )`);
    await q.query(`CREATE UNIQUE INDEX message_hides_message_key ON message_hides (message_id, user_id)`);
    await q.query(`ALTER TABLE chat_members ADD COLUMN hides_messages boolean NOT NULL DEFAULT false`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE chat_members DROP COLUMN hides_messages`);
    await q.query(`DROP TABLE message_hides`);
  }
}
