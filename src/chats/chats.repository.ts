import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { newId } from '../core/database/ids';
import { preparedQuery } from '../core/database/prepared';
import { returned } from '../core/database/query-results';
import { ChatRole } from './entities/chat-member.entity';
import { ChatEntity, ChatType } from './entities/chat.entity';

/** A user's place in a chat, with the chat itself: what every permission check starts from. */
export interface Membership {
  chat: ChatEntity;
  role: ChatRole;
  visible: boolean;
  lastReadSeq: number;
}

export interface MemberRow {
  chatId: string;
  userId: string;
  id: string;
  role: ChatRole;
  joinedAt: Date;
  visible: boolean;
  lastReadSeq: number;
  lastReadAt: Date | null;
}

export interface ChatListRow {
  chat: ChatEntity;
  unread: number;
  /** last_activity_at in epoch microseconds (exact), for keyset cursors. */
  activityKey?: string;
}

const CHAT_COLUMNS = `c.id, c.type, c.name, c.avatar, c.pair_key AS "pairKey", c.message_seq::float8 AS "messageSeq",
  c.last_message_id AS "lastMessageId", c.last_activity_at AS "lastActivityAt", c.created_at AS "createdAt", c.updated_at AS "updatedAt"`;
const MEMBER_COLUMNS = `m.chat_id AS "chatId", m.user_id AS "userId", m.id, m.role, m.joined_at AS "joinedAt", m.visible,
  m.last_read_seq::float8 AS "lastReadSeq", m.last_read_at AS "lastReadAt"`;

const MEMBERS_SQL = `SELECT ${MEMBER_COLUMNS} FROM chat_members m WHERE m.chat_id = ANY($1::uuid[]) ORDER BY m.joined_at, m.id`;
const LIST_COLUMNS = `${CHAT_COLUMNS}, GREATEST(c.message_seq - m.last_read_seq, 0)::int AS unread,
  (extract(epoch FROM c.last_activity_at) * 1000000)::bigint::text AS "activityKey"`;
/** The chat list's first page (the hot one) and the pages after a cursor: two prepared statements. */
const LIST_FIRST_SQL = `SELECT ${LIST_COLUMNS}
  FROM chat_members m JOIN chats c ON c.id = m.chat_id
 WHERE m.user_id = $1 AND m.visible AND m.archived = $2
 ORDER BY c.last_activity_at DESC, c.id DESC LIMIT $3`;
const LIST_AFTER_SQL = `SELECT ${LIST_COLUMNS}
  FROM chat_members m JOIN chats c ON c.id = m.chat_id
 WHERE m.user_id = $1 AND m.visible AND m.archived = $2
   AND ((extract(epoch FROM c.last_activity_at) * 1000000)::bigint, c.id) < ($3::bigint, $4::uuid)
 ORDER BY c.last_activity_at DESC, c.id DESC LIMIT $5`;

@Injectable()
export class ChatsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  get manager(): EntityManager {
    return this.dataSource.manager;
  }

  transaction<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(work);
  }

  async membership(chatId: string, userId: string, tx: EntityManager = this.manager, options: { lock?: boolean } = {}): Promise<Membership | null> {
    const rows = (await tx.query(
      `SELECT ${CHAT_COLUMNS}, m.role, m.visible, m.last_read_seq::float8 AS "lastReadSeq"
         FROM chat_members m JOIN chats c ON c.id = m.chat_id
        WHERE m.chat_id = $1 AND m.user_id = $2 ${options.lock ? 'FOR UPDATE OF c' : ''}`,
      [chatId, userId],
    )) as Array<ChatEntity & { role: ChatRole; visible: boolean; lastReadSeq: number }>;
    const row = rows[0];
    if (!row) return null;
    const { role, visible, lastReadSeq, ...chat } = row;
    return { chat: chat as ChatEntity, role, visible, lastReadSeq };
  }

  async memberIds(chatId: string, tx: EntityManager = this.manager): Promise<string[]> {
    const rows = (await tx.query(`SELECT user_id AS "userId" FROM chat_members WHERE chat_id = $1`, [chatId])) as Array<{ userId: string }>;
    return rows.map((r) => r.userId);
  }

  async members(chatIds: string[], tx: EntityManager = this.manager): Promise<MemberRow[]> {
    if (!chatIds.length) return [];
    return preparedQuery<MemberRow[]>(tx, 'chats.members', MEMBERS_SQL, [chatIds]);
  }

  /**
   * The one DIRECT or SECRET chat of a pair, created if missing. The unique pair key makes two
   * simultaneous creations converge on one row: the loser's insert waits for the winner and finds it.
   */
  async findOrCreatePair(tx: EntityManager, type: ChatType, creatorId: string, targetId: string): Promise<{ chatId: string; created: boolean }> {
    const pairKey = `${type}:${[creatorId, targetId].sort().join(':')}`;
    const inserted = returned<{ id: string }>(
      await tx.query(
        `INSERT INTO chats (id, type, pair_key) VALUES ($1, $2, $3) ON CONFLICT (pair_key) WHERE pair_key IS NOT NULL DO NOTHING RETURNING id`,
        [newId(), type, pairKey],
      ),
    );
    if (inserted.length) {
      const chatId = inserted[0].id;
      await tx.query(
        `INSERT INTO chat_members (chat_id, user_id, id, role, visible) VALUES ($1, $2, $3, 'MEMBER', true), ($1, $4, $5, 'MEMBER', false)`,
        [chatId, creatorId, newId(), targetId, newId()],
      );
      return { chatId, created: true };
    }
    const [existing] = (await tx.query(`SELECT id FROM chats WHERE pair_key = $1`, [pairKey])) as Array<{ id: string }>;
    // The creator asked for the chat, so it is visible to them from now on.
    await tx.query(`UPDATE chat_members SET visible = true WHERE chat_id = $1 AND user_id = $2 AND NOT visible`, [existing.id, creatorId]);
    return { chatId: existing.id, created: false };
  }

  async createGroup(tx: EntityManager, name: string, avatar: string | null, ownerId: string, memberIds: string[]): Promise<string> {
    const chatId = newId();
    await tx.query(`INSERT INTO chats (id, type, name, avatar) VALUES ($1, 'GROUP', $2, $3)`, [chatId, name, avatar]);
    await tx.query(`INSERT INTO chat_members (chat_id, user_id, id, role) VALUES ($1, $2, $3, 'OWNER')`, [chatId, ownerId, newId()]);
    await this.addMembers(tx, chatId, memberIds);
    return chatId;
  }

  /** Adds members; resolves the ids actually added (existing members are skipped). */
  async addMembers(tx: EntityManager, chatId: string, userIds: string[]): Promise<string[]> {
    if (!userIds.length) return [];
    const rows = returned<{ userId: string }>(
      await tx.query(
        `INSERT INTO chat_members (chat_id, user_id, id, role, last_read_seq)
         SELECT $1, u, gen_random_uuid(), 'MEMBER', c.message_seq FROM unnest($2::uuid[]) AS u, chats c WHERE c.id = $1
         ON CONFLICT (chat_id, user_id) DO NOTHING RETURNING user_id AS "userId"`,
        [chatId, userIds],
      ),
    );
    return rows.map((r) => r.userId);
  }

  async removeMember(tx: EntityManager, chatId: string, userId: string): Promise<boolean> {
    const rows = returned(await tx.query(`DELETE FROM chat_members WHERE chat_id = $1 AND user_id = $2 RETURNING user_id`, [chatId, userId]));
    return rows.length > 0;
  }

  /** Passes OWNER to the oldest ADMIN, else the oldest member; resolves the new owner, or null when nobody is left. */
  async passOwnership(tx: EntityManager, chatId: string): Promise<string | null> {
    const rows = returned<{ userId: string }>(
      await tx.query(
        `UPDATE chat_members SET role = 'OWNER' WHERE chat_id = $1 AND user_id = (
           SELECT user_id FROM chat_members WHERE chat_id = $1
            ORDER BY (role = 'ADMIN') DESC, joined_at, id LIMIT 1)
         RETURNING user_id AS "userId"`,
        [chatId],
      ),
    );
    return rows[0]?.userId ?? null;
  }

  async deleteChat(tx: EntityManager, chatId: string): Promise<void> {
    await tx.query(`DELETE FROM chats WHERE id = $1`, [chatId]);
  }

  async updateInfo(tx: EntityManager, chatId: string, changes: { name?: string; avatar?: string | null }): Promise<void> {
    await tx.query(
      `UPDATE chats SET name = CASE WHEN $2 THEN $3 ELSE name END, avatar = CASE WHEN $4 THEN $5 ELSE avatar END, updated_at = now() WHERE id = $1`,
      [chatId, changes.name !== undefined, changes.name ?? null, changes.avatar !== undefined, changes.avatar ?? null],
    );
  }

  async findChat(chatId: string, tx: EntityManager = this.manager): Promise<ChatEntity | null> {
    const rows = (await tx.query(`SELECT ${CHAT_COLUMNS} FROM chats c WHERE c.id = $1`, [chatId])) as ChatEntity[];
    return rows[0] ?? null;
  }

  /**
   * One page of the user's visible chats, newest activity first, keyset-paginated on
   * (last_activity_at, id). Unread is a subtraction of two counters, never a COUNT.
   */
  async listForUser(userId: string, page: { archived: boolean; after: { at: string; id: string } | null; limit: number }): Promise<ChatListRow[]> {
    const rows = await preparedQuery<Array<ChatEntity & { unread: number; activityKey: string }>>(
      this.manager,
      page.after ? 'chats.list-after' : 'chats.list-first',
      page.after ? LIST_AFTER_SQL : LIST_FIRST_SQL,
      page.after ? [userId, page.archived, page.after.at, page.after.id, page.limit] : [userId, page.archived, page.limit],
    );
    return rows.map(({ unread, activityKey, ...chat }) => ({ chat: chat as ChatEntity, unread, activityKey }));
  }

  async unreadOf(chatId: string, userId: string, tx: EntityManager = this.manager): Promise<number> {
    const rows = (await tx.query(
      `SELECT GREATEST(c.message_seq - m.last_read_seq, 0)::int AS unread FROM chat_members m JOIN chats c ON c.id = m.chat_id WHERE m.chat_id = $1 AND m.user_id = $2`,
      [chatId, userId],
    )) as Array<{ unread: number }>;
    return rows[0]?.unread ?? 0;
  }

  async groupsOf(tx: EntityManager, userId: string): Promise<string[]> {
    const rows = (await tx.query(`SELECT m.chat_id AS "chatId" FROM chat_members m JOIN chats c ON c.id = m.chat_id WHERE m.user_id = $1 AND c.type = 'GROUP'`, [userId])) as Array<{ chatId: string }>;
    return rows.map((r) => r.chatId);
  }

  async existingUserIds(userIds: string[], tx: EntityManager = this.manager): Promise<string[]> {
    if (!userIds.length) return [];
    const rows = (await tx.query(`SELECT id FROM users WHERE id = ANY($1::uuid[])`, [userIds])) as Array<{ id: string }>;
    return rows.map((r) => r.id);
  }
}
