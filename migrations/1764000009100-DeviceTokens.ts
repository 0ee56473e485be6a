import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Push device tokens (wire-contract-v2.2 §12).
 *
 * - One row per token, found by `token_hash` (SHA-256 of the token): a WEB token is the JSON of
 *   a browser's PushSubscription, up to 4096 characters, too long for a b-tree entry of its own.
 *   Registering a token again moves the row to the caller and to the session registering it.
 * - A token belongs to the session that registered it and goes when that session ends (logout,
 *   termination, a deleted account) by the foreign keys; an expired session's tokens are skipped
 *   by the sender.
 * - WEB rows keep the parsed subscription (`endpoint`, `p256dh`, `auth`) and `origin`, the
 *   origin the browser reached the API at: push payloads build the absolute avatar URL from it,
 *   as the server has no configured public URL.
 */
export class DeviceTokens1764000009100 implements MigrationInterface {
  name = 'DeviceTokens1764000009100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE device_tokens (
        id uuid PRIMARY KEY,
        user_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        session_id uuid NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        platform text NOT NULL CHECK (platform IN ('IOS', 'ANDROID', 'WEB')),
        token text NOT NULL,
        token_hash bytea NOT NULL,
        endpoint text,
        p256dh text,
        auth text,
        origin text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK (platform <> 'WEB' OR (endpoint IS NOT NULL AND p256dh IS NOT NULL AND auth IS NOT NULL))
      )`);
    await q.query(`CREATE UNIQUE INDEX device_tokens_token_hash_key ON device_tokens (token_hash)`);
    await q.query(`CREATE INDEX device_tokens_user_idx ON device_tokens (user_id)`);
    await q.query(`CREATE INDEX device_tokens_session_idx ON device_tokens (session_id)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE device_tokens`);
  }
}
