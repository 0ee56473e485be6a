import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Signal Protocol public key material: one bundle per user (identity key, signed prekey) and the
 * one-time prekeys handed out at most once each. Keys are stored as the canonical padded base64
 * the clients send, so a bundle goes back out byte-for-byte.
 */
export class Keys1764000004000 implements MigrationInterface {
  name = 'Keys1764000004000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE key_bundles (
        user_id uuid PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
        registration_id int NOT NULL,
        identity_key text NOT NULL,
        signed_prekey_id int NOT NULL,
        signed_prekey text NOT NULL,
        signed_prekey_sig text NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    // One-time prekeys hang off the bundle, not the user: a key without a bundle is useless to a
    // peer, and the foreign key makes "no bundle, no one-time keys" hold even under races.
    await q.query(`
      CREATE TABLE one_time_prekeys (
        user_id uuid NOT NULL REFERENCES key_bundles(user_id) ON DELETE CASCADE,
        key_id int NOT NULL,
        public_key text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (user_id, key_id)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE one_time_prekeys`);
    await q.query(`DROP TABLE key_bundles`);
  }
}
