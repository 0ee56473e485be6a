import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Blocks, contacts, chats, members, messages, reactions, voice listens.
 *
 * Unread counts never count messages: each chat numbers its messages (`messages.seq`, with the
 * chat's high-water mark in `chats.message_seq`) and each member keeps a read watermark
 * (`chat_members.last_read_seq`); unread = message_seq - last_read_seq. Read receipts derive
 * from the same watermarks, so reads cost one row update however many messages they cover.
 */
export class SocialGraphAndChats1764000001000 implements MigrationInterface {
  name = 'SocialGraphAndChats1764000001000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE blocks (
        blocker_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        blocked_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (blocker_id, blocked_id),
        CHECK (blocker_id <> blocked_id)
      )`);
    await q.query(`CREATE INDEX blocks_blocked_idx ON blocks (blocked_id)`);

    await q.query(`
      CREATE TABLE contacts (
        owner_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        contact_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (owner_id, contact_id),
        CHECK (owner_id <> contact_id)
      )`);
    await q.query(`CREATE INDEX contacts_contact_idx ON contacts (contact_id)`);

    await q.query(`
      CREATE TABLE chats (
        id uuid PRIMARY KEY,
        type text NOT NULL CHECK (type IN ('DIRECT', 'GROUP', 'SECRET')),
        name text,
        avatar text,
        -- DIRECT and SECRET chats: '<type>:<smaller user id>:<larger user id>', unique, so that
        -- two users racing to open the same chat get one row (a key, not a check-then-insert).
        pair_key text,
        message_seq bigint NOT NULL DEFAULT 0,
        last_message_id uuid,
        last_activity_at timestamptz NOT NULL DEFAULT now(),
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX chats_pair_key ON chats (pair_key) WHERE pair_key IS NOT NULL`);

    await q.query(`
      CREATE TABLE chat_members (
        chat_id uuid NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        id uuid NOT NULL,
        role text NOT NULL CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER')),
        joined_at timestamptz NOT NULL DEFAULT now(),
        -- false for the target of a direct chat until its first message
        visible boolean NOT NULL DEFAULT true,
        archived boolean NOT NULL DEFAULT false,
        last_read_seq bigint NOT NULL DEFAULT 0,
        last_read_at timestamptz,
        PRIMARY KEY (chat_id, user_id)
      )`);
    await q.query(`CREATE INDEX chat_members_user_idx ON chat_members (user_id, chat_id)`);

    await q.query(`
      CREATE TABLE messages (
        id uuid PRIMARY KEY,
        chat_id uuid NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
        sender_id uuid REFERENCES users(id) ON DELETE CASCADE,
        seq bigint NOT NULL,
        type text NOT NULL CHECK (type IN ('TEXT', 'IMAGE', 'FILE', 'AUDIO', 'VIDEO', 'SYSTEM')),
        text text,
        media_url text,
        media_name text,
        media_size bigint,
        media_group_id text,
        reply_to_id uuid,
        forwarded_from_id uuid,
        forward_sender_name text,
        ciphertext text,
        signal_type int,
        client_message_id text,
        is_edited boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        search tsvector GENERATED ALWAYS AS (to_tsvector('simple', coalesce(text, ''))) STORED
      )`);
    await q.query(`CREATE INDEX messages_chat_id_idx ON messages (chat_id, id DESC)`);
    await q.query(`CREATE UNIQUE INDEX messages_chat_seq_key ON messages (chat_id, seq)`);
    await q.query(`CREATE INDEX messages_chat_type_idx ON messages (chat_id, type, id DESC) WHERE type IN ('IMAGE', 'VIDEO', 'FILE', 'AUDIO')`);
    await q.query(`CREATE UNIQUE INDEX messages_client_id_key ON messages (sender_id, client_message_id) WHERE client_message_id IS NOT NULL`);
    await q.query(`CREATE INDEX messages_search_idx ON messages USING gin (search)`);
    await q.query(`CREATE INDEX messages_sender_idx ON messages (sender_id)`);

    await q.query(`
      CREATE TABLE reactions (
        id uuid PRIMARY KEY,
        message_id uuid NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        emoji text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX reactions_once_key ON reactions (message_id, user_id, emoji)`);
    await q.query(`CREATE INDEX reactions_user_idx ON reactions (user_id)`);

    await q.query(`
      CREATE TABLE message_listens (
        message_id uuid NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        listened_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (message_id, user_id)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    for (const table of ['message_listens', 'reactions', 'messages', 'chat_members', 'chats', 'contacts', 'blocks']) {
      await q.query(`DROP TABLE ${table}`);
    }
  }
}
