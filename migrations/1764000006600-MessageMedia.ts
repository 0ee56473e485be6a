import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Ties messages to the uploads they show, so deleting the last message that shows a file can
 * delete the file, and no message can point at a deleted one.
 *
 * - `uploads.url` is the public URL (`/uploads/<stored_name>`) that messages store in
 *   `media_url`. The foreign key from `messages.media_url` makes an insert that names a deleted
 *   upload fail, and its check share-locks the upload row until the insert commits: that lock is
 *   what makes "does anything still show this file?" safe against a message being sent with it
 *   at the same moment. NOT VALID: rows written before it are not checked (new ones are).
 * - The partial indexes answer "who still shows this URL?" for messages and chat avatars.
 */
export class MessageMedia1764000006600 implements MigrationInterface {
  name = 'MessageMedia1764000006600';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE uploads ADD COLUMN url text GENERATED ALWAYS AS ('/uploads/' || stored_name) STORED`);
    await q.query(`ALTER TABLE uploads ADD CONSTRAINT uploads_url_key UNIQUE (url)`);
    await q.query(`CREATE INDEX messages_media_url_idx ON messages (media_url) WHERE media_url IS NOT NULL`);
    await q.query(`ALTER TABLE messages ADD CONSTRAINT messages_media_url_fkey FOREIGN KEY (media_url) REFERENCES uploads (url) NOT VALID`);
    await q.query(`CREATE INDEX chats_avatar_idx ON chats (avatar) WHERE avatar IS NOT NULL`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX chats_avatar_idx`);
    await q.query(`ALTER TABLE messages DROP CONSTRAINT messages_media_url_fkey`);
    await q.query(`DROP INDEX messages_media_url_idx`);
    await q.query(`ALTER TABLE uploads DROP CONSTRAINT uploads_url_key`);
    await q.query(`ALTER TABLE uploads DROP COLUMN url`);
  }
}
