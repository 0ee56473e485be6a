import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Abuse reports (wire-contract-v2.2 §11), kept for moderators.
 *
 * - Evidence outlives what it is about. The reported message is copied at report time
 *   (`message_*`: its chat, the chat's type, sender, type, text, media path and name, time), the
 *   reported user's profile and the reported chat's name and description likewise, so a later
 *   edit, a delete for everyone, a renamed group or a deleted account erases none of it. A SECRET
 *   chat's message is copied without content: the server holds only ciphertext, which no
 *   moderator can read, and it is never copied.
 * - `target_message_id` and `target_chat_id` have no foreign key: they stay after the message or
 *   chat is gone, so the reports of one message or chat remain findable together.
 * - Accounts are referenced with ON DELETE SET NULL: a deleted reporter's reports stay, no longer
 *   tied to anyone; a deleted target's account link goes while the copied evidence stays.
 * - Indexes serve a moderator queue (`status`, newest first), the reports against one user (as
 *   the target or as the reported message's sender), about one message or chat, and by one
 *   reporter (also the 24-hour repeat lookup of POST /api/reports).
 */
export class Reports1764000009200 implements MigrationInterface {
  name = 'Reports1764000009200';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE reports (
        id uuid PRIMARY KEY,
        reporter_id uuid REFERENCES users(id) ON DELETE SET NULL,
        target_user_id uuid REFERENCES users(id) ON DELETE SET NULL,
        target_message_id uuid,
        target_chat_id uuid,
        reason text NOT NULL CHECK (reason IN ('SPAM', 'ABUSE', 'VIOLENCE', 'NSFW', 'OTHER')),
        details text CHECK (char_length(details) <= 1000),
        status text NOT NULL DEFAULT 'OPEN' CHECK (status IN ('OPEN', 'RESOLVED', 'DISMISSED')),
        message_chat_id uuid,
        message_chat_type text,
        message_sender_id uuid REFERENCES users(id) ON DELETE SET NULL,
        message_type text,
        message_text text,
        message_media_url text,
        message_media_name text,
        message_created_at timestamptz,
        target_user_snapshot jsonb,
        target_chat_snapshot jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE INDEX reports_status_idx ON reports (status, created_at DESC, id)`);
    await q.query(`CREATE INDEX reports_target_user_idx ON reports (target_user_id, created_at DESC) WHERE target_user_id IS NOT NULL`);
    await q.query(`CREATE INDEX reports_message_sender_idx ON reports (message_sender_id, created_at DESC) WHERE message_sender_id IS NOT NULL`);
    await q.query(`CREATE INDEX reports_target_message_idx ON reports (target_message_id) WHERE target_message_id IS NOT NULL`);
    await q.query(`CREATE INDEX reports_target_chat_idx ON reports (target_chat_id, created_at DESC) WHERE target_chat_id IS NOT NULL`);
    await q.query(`CREATE INDEX reports_reporter_idx ON reports (reporter_id, created_at DESC) WHERE reporter_id IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE reports`);
  }
}
