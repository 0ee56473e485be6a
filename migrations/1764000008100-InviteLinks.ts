import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Group invite links (wire-contract-v2.2 §6).
 *
 * - A link is found by `code_hash`, the SHA-256 of its code: the lookup compares digests, so its
 *   timing says nothing about the code itself. The code is kept too, because the OWNER and ADMINs
 *   list their links with it (§1.2).
 * - `uses` is counted under the link's row lock, so concurrent joins never pass `max_uses`.
 * - A link goes with its chat (a deleted group's codes answer INVITE_NOT_FOUND); a revoked one
 *   stays, with `revoked_at`, and answers the same.
 */
export class InviteLinks1764000008100 implements MigrationInterface {
  name = 'InviteLinks1764000008100';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE invite_links (
        id uuid PRIMARY KEY,
        chat_id uuid NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
        code text NOT NULL,
        code_hash bytea NOT NULL,
        created_by uuid REFERENCES users(id) ON DELETE SET NULL,
        expires_at timestamptz,
        max_uses integer,
        uses integer NOT NULL DEFAULT 0,
        revoked_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await q.query(`CREATE UNIQUE INDEX invite_links_code_hash_key ON invite_links (code_hash)`);
    await q.query(`CREATE INDEX invite_links_chat_idx ON invite_links (chat_id, created_at DESC)`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE invite_links`);
  }
}
