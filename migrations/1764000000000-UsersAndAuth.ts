import { MigrationInterface, QueryRunner } from 'typeorm';

export class UsersAndAuth1764000000000 implements MigrationInterface {
  name = 'UsersAndAuth1764000000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE users (
        id uuid PRIMARY KEY,
        email text NOT NULL,
        nickname text NOT NULL,
        first_name text,
        last_name text,
        avatar text,
        bio text,
        last_online_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX users_email_key ON users (email)`);
    // Case-insensitive uniqueness, and the prefix search index (text_pattern_ops serves LIKE 'abc%').
    await q.query(`CREATE UNIQUE INDEX users_nickname_lower_key ON users (lower(nickname))`);
    await q.query(`CREATE INDEX users_nickname_lower_prefix_idx ON users (lower(nickname) text_pattern_ops)`);

    await q.query(`
      CREATE TABLE user_settings (
        user_id uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        settings jsonb NOT NULL DEFAULT '{}'::jsonb,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);

    await q.query(`
      CREATE TABLE sessions (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        token_hash text NOT NULL,
        device_name text NOT NULL,
        user_agent text,
        ip text,
        location text,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_active_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
      )`);
    await q.query(`CREATE UNIQUE INDEX sessions_token_hash_key ON sessions (token_hash)`);
    await q.query(`CREATE INDEX sessions_user_idx ON sessions (user_id, last_active_at DESC)`);

    // One pending code per email. Only hashes are stored.
    await q.query(`
      CREATE TABLE otp_codes (
        email text PRIMARY KEY,
        code_hash text NOT NULL,
        verify_token_hash text,
        attempts int NOT NULL DEFAULT 0,
        sent_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE otp_codes`);
    await q.query(`DROP TABLE sessions`);
    await q.query(`DROP TABLE user_settings`);
    await q.query(`DROP TABLE users`);
  }
}
