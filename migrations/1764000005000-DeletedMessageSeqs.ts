import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * The sequence numbers of deleted messages, per chat. Unread counts are sequence arithmetic
 * (chats.message_seq - chat_members.last_read_seq); a message deleted before a member read it
 * must stop counting, so unread subtracts the deleted numbers beyond the member's watermark
 * (an index range that is almost always empty).
 */
export class DeletedMessageSeqs1764000005000 implements MigrationInterface {
  name = 'DeletedMessageSeqs1764000005000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE deleted_message_seqs (
        chat_id uuid NOT NULL REFERENCES chats(id) ON DELETE CASCADE,
        seq bigint NOT NULL,
        PRIMARY KEY (chat_id, seq)
      )`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE deleted_message_seqs`);
  }
}
