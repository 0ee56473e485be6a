import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { MAX_UUID, newId } from '../core/database/ids';
import { preparedQuery } from '../core/database/prepared';
import { returned } from '../core/database/query-results';
import { hiddenForSql, RichMessageRow, richMessagesSql } from '../messages/messages.repository';
import { UserWithRuleRow, usersWithRulesSql } from '../users/users.repository';
import { ChatRole } from './entities/chat-member.entity';
import { ChatEntity, ChatType } from './entities/chat.entity';

/** A user's place in a chat, with the chat itself: what every permission check starts from. */
export interface Membership {
  chat: ChatEntity;
  role: ChatRole;
  visible: boolean;
  lastReadSeq: number;
}

const CHAT_COLUMNS = `c.id, c.type, c.name, c.avatar, c.pair_key AS "pairKey", c.message_seq::float8 AS "messageSeq",
  c.last_message_id AS "lastMessageId", c.last_activity_at AS "lastActivityAt", c.created_at AS "createdAt", c.updated_at AS "updatedAt"`;

/** A chat membership as the chat list shows it (and reads its read watermark from). */
export interface ChatMemberFacts {
  id: string;
  chatId: string;
  userId: string;
  role: ChatRole;
  /** ISO strings: the views are read as JSON. */
  joinedAt: string;
  visible: boolean;
  lastReadSeq: number;
  lastReadAt: string | null;
}

/**
 * A chat as one viewer's list shows it: the chat, the viewer's unread count, its memberships
 * (joined first) and its rich last message (a richMessagesSql row). Timestamps are ISO strings.
 */
export interface ChatViewRow {
  id: string;
  type: ChatType;
  name: string | null;
  avatar: string | null;
  createdAt: string;
  unread: number;
  /** last_activity_at in epoch microseconds (exact), for keyset cursors. */
  activityKey: string;
  members: ChatMemberFacts[];
  lastMessage: RichMessageRow | null;
}

/** Chats as one viewer sees them, with every member's user row and presence rule once (a member of many chats, the viewer first of all, is read once). */
export interface ChatViewSet {
  chats: ChatViewRow[];
  users: UserWithRuleRow[];
}

const ACTIVITY_KEY = `(extract(epoch FROM c.last_activity_at) * 1000000)::bigint`;
/**
 * A ChatViewSet of viewer $1 for the memberships `where` selects (newest activity first, at most
 * `limit`), as one JSON value: one round trip, one value for Node to parse. Members and last
 * messages are nested lookups by key per chat; the members' profiles are read once per user.
 * Unread is a subtraction of two counters, less the deleted messages past the watermark (an
 * index range, nearly always empty): never a COUNT over messages. A viewer who hid messages in a
 * chat (chat_members.hides_messages) also loses the hidden ones past the watermark from unread,
 * and sees the newest message they did not hide as the last one; for everyone else neither
 * costs a lookup.
 */
const chatViewsSql = (where: string, limit: string): string => `WITH cp AS (
  SELECT c.id, c.type, c.name, c.avatar, c.created_at, c.last_activity_at,
         CASE WHEN m.hides_messages AND EXISTS (SELECT 1 FROM message_hides h WHERE h.message_id = c.last_message_id AND h.user_id = m.user_id)
              THEN (SELECT msg.id FROM messages msg WHERE msg.chat_id = c.id AND NOT ${hiddenForSql('m.user_id')} ORDER BY msg.id DESC LIMIT 1)
              ELSE c.last_message_id END AS last_message_id,
         GREATEST(c.message_seq - m.last_read_seq
                  - (SELECT count(*) FROM deleted_message_seqs d WHERE d.chat_id = c.id AND d.seq > m.last_read_seq)
                  - CASE WHEN m.hides_messages
                         THEN (SELECT count(*) FROM message_hides h WHERE h.user_id = m.user_id AND h.chat_id = c.id AND h.seq > m.last_read_seq) ELSE 0 END, 0)::int AS unread,
         ${ACTIVITY_KEY}::text AS activity_key
    FROM chat_members m JOIN chats c ON c.id = m.chat_id
   WHERE ${where}
   ORDER BY c.last_activity_at DESC, c.id DESC LIMIT ${limit})
SELECT json_build_object(
  'chats', (SELECT coalesce(json_agg(json_build_object(
     'id', cp.id, 'type', cp.type, 'name', cp.name, 'avatar', cp.avatar, 'createdAt', cp.created_at,
     'unread', cp.unread, 'activityKey', cp.activity_key,
     'members', (SELECT coalesce(json_agg(json_build_object('id', cm.id, 'chatId', cm.chat_id, 'userId', cm.user_id, 'role', cm.role,
                   'joinedAt', cm.joined_at, 'visible', cm.visible, 'lastReadSeq', cm.last_read_seq::float8, 'lastReadAt', cm.last_read_at)
                   ORDER BY cm.joined_at, cm.id), '[]')
                   FROM chat_members cm WHERE cm.chat_id = cp.id),
     'lastMessage', (SELECT row_to_json(x) FROM (${richMessagesSql('msg.id = cp.last_message_id')}) x)
   ) ORDER BY cp.last_activity_at DESC, cp.id DESC), '[]') FROM cp),
  'users', (SELECT coalesce(json_agg(x), '[]') FROM (
     ${usersWithRulesSql('u.id IN (SELECT cm.user_id FROM chat_members cm JOIN cp ON cp.id = cm.chat_id)', '$1')}) x)
) AS views`;
/** One page of the viewer's visible chats, keyset-paginated on (last_activity_at, id); a null cursor is the first page. */
const VIEW_PAGE_SQL = chatViewsSql(
  `m.user_id = $1 AND m.visible AND m.archived = $2
   AND (${ACTIVITY_KEY}, c.id) < (coalesce($3::bigint, 9223372036854775807), coalesce($4::uuid, '${MAX_UUID}'))`,
  '$5',
);
const VIEW_ONE_SQL = chatViewsSql(`m.chat_id = $2 AND m.user_id = $1`, '1');

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

  async visibleMemberIds(chatId: string): Promise<string[]> {
    const rows = (await this.manager.query(`SELECT user_id AS "userId" FROM chat_members WHERE chat_id = $1 AND visible`, [chatId])) as Array<{ userId: string }>;
    return rows.map((r) => r.userId);
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

  /** One page of the viewer's visible chats, newest activity first. */
  async viewPage(viewerId: string, page: { archived: boolean; after: { at: string; id: string } | null; limit: number }): Promise<ChatViewSet> {
    const [{ views }] = await preparedQuery<Array<{ views: ChatViewSet }>>(this.manager, 'chats.view-page', VIEW_PAGE_SQL, [
      viewerId,
      page.archived,
      page.after?.at ?? null,
      page.after?.id ?? null,
      page.limit,
    ]);
    return views;
  }

  /** One chat as a member sees it (visible or not yet); no chat when the viewer is not a member. */
  async viewOne(viewerId: string, chatId: string): Promise<ChatViewSet> {
    const [{ views }] = await preparedQuery<Array<{ views: ChatViewSet }>>(this.manager, 'chats.view-one', VIEW_ONE_SQL, [viewerId, chatId]);
    return views;
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
