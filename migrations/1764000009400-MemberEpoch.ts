import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * `chats.member_epoch` counts the memberships the chat has lost (ChatsRepository.removeMember).
 * A group commit of messages (INSERT_BATCH_SQL) reads the members from the snapshot its statement
 * started with and takes the chat's lock only later: a member removed in between would still send
 * (a message after "X removed Y") and be sent the chat's new messages. The statement writes a chat
 * only when its epoch is still the one it read; the messages of a chat that lost a member meanwhile
 * are checked again in a statement of their own.
 */
export class MemberEpoch1764000009400 implements MigrationInterface {
  name = 'MemberEpoch1764000009400';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE chats ADD COLUMN member_epoch integer NOT NULL DEFAULT 0`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE chats DROP COLUMN member_epoch`);
  }
}
