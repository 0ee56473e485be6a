import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * What the v2.2 client reads on a chat and keeps per member (wire-contract-v2.2 §1.1-§4).
 *
 * - `chats.type` gains `SELF` (saved messages). A SELF chat carries the pair key
 *   `SELF:<owner id>`, so the unique index chats_pair_key gives each user exactly one, even when
 *   two requests create it at the same moment; the check makes the key mandatory for SELF.
 * - `chats.numeric_id`: the integer the client puts in group links (`/chat/-<numericId>`),
 *   assigned by an identity sequence (existing chats get one when the column is added).
 * - `chats.description` and `chats.pinned_message_id`: shared fields of the Chat object.
 * - Per member: `pinned_at`, `muted_until`, `archived_at` (replacing the `archived` flag, whose
 *   rows keep their state) and the member's draft. The draft sits on the member row because a
 *   sent message clears it inside the send statement, which already updates that row.
 */
export class ChatState1764000007100 implements MigrationInterface {
  name = 'ChatState1764000007100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE chats DROP CONSTRAINT chats_type_check`);
    await q.query(`ALTER TABLE chats ADD CONSTRAINT chats_type_check CHECK (type IN ('DIRECT', 'GROUP', 'SECRET', 'SELF'))`);
    await q.query(`ALTER TABLE chats ADD CONSTRAINT chats_self_pair_key_check CHECK (type <> 'SELF' OR pair_key IS NOT NULL)`);
    await q.query(`ALTER TABLE chats ADD COLUMN numeric_id bigint GENERATED ALWAYS AS IDENTITY`);
    await q.query(`ALTER TABLE chats ADD CONSTRAINT chats_numeric_id_key UNIQUE (numeric_id)`);
    await q.query(`ALTER TABLE chats ADD COLUMN description text`);
    await q.query(`ALTER TABLE chats ADD COLUMN pinned_message_id uuid`);

    await q.query(`
      ALTER TABLE chat_members
        ADD COLUMN pinned_at timestamptz,
        ADD COLUMN muted_until timestamptz,
        ADD COLUMN archived_at timestamptz,
        ADD COLUMN draft_text text,
        ADD COLUMN draft_reply_to_id uuid,
        ADD COLUMN draft_updated_at timestamptz`);
    await q.query(`UPDATE chat_members SET archived_at = now() WHERE archived`);
    await q.query(`ALTER TABLE chat_members DROP COLUMN archived`);
    await q.query(`ALTER TABLE chat_members ADD CONSTRAINT chat_members_draft_check CHECK ((draft_text IS NULL) = (draft_updated_at IS NULL))`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE chat_members DROP CONSTRAINT chat_members_draft_check`);
    await q.query(`ALTER TABLE chat_members ADD COLUMN archived boolean NOT NULL DEFAULT false`);
    await q.query(`UPDATE chat_members SET archived = true WHERE archived_at IS NOT NULL`);
    await q.query(`
      ALTER TABLE chat_members
        DROP COLUMN pinned_at,
        DROP COLUMN muted_until,
        DROP COLUMN archived_at,
        DROP COLUMN draft_text,
        DROP COLUMN draft_reply_to_id,
        DROP COLUMN draft_updated_at`);
    await q.query(`DELETE FROM chats WHERE type = 'SELF'`);
    await q.query(`ALTER TABLE chats DROP COLUMN pinned_message_id`);
    await q.query(`ALTER TABLE chats DROP COLUMN description`);
    await q.query(`ALTER TABLE chats DROP CONSTRAINT chats_numeric_id_key`);
    await q.query(`ALTER TABLE chats DROP COLUMN numeric_id`);
    await q.query(`ALTER TABLE chats DROP CONSTRAINT chats_self_pair_key_check`);
    await q.query(`ALTER TABLE chats DROP CONSTRAINT chats_type_check`);
    await q.query(`ALTER TABLE chats ADD CONSTRAINT chats_type_check CHECK (type IN ('DIRECT', 'GROUP', 'SECRET'))`);
  }
}
