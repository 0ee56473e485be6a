import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The shared-media Links tab (GET /api/chats/:id/shared?tab=links) lists a chat's text messages
 * holding a web address, newest first: this partial index holds only those, so a page is an index
 * range however long the chat. The predicate is LINK_MESSAGE_SQL's (messages.repository.ts) and
 * must stay word for word the same for the planner to use it. Built CONCURRENTLY (messages go on
 * meanwhile; a build that failed half-way is dropped first when this runs again).
 */
export class MessageLinks1764000009920 implements MigrationInterface {
  name = 'MessageLinks1764000009920';
  transaction = false;

  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS messages_links_idx`);
    await q.query(`CREATE INDEX CONCURRENTLY messages_links_idx ON messages (chat_id, id) WHERE type = 'TEXT' AND ciphertext IS NULL AND text ~* 'https?://'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX IF EXISTS messages_links_idx`);
  }
}
