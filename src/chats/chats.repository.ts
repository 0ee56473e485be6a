import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { newId } from '../core/database/ids';
import { preparedQuery } from '../core/database/prepared';
import { returned } from '../core/database/query-results';
import { decodeMessageSet, MessageSet, MessageSetColumns, messageSetSql, senderFromFacts, SET_COLUMNS } from '../messages/message-set';
import { hiddenForSql } from '../messages/messages.repository';
import { decodeUserFacts, UserFacts, UserFactsAmong, UserFactsAmongTuple, userFactsAmongJsonSql, UserFactsTuple, userFactsJsonSql } from '../users/users.repository';
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

/** A chat membership as the chat list shows it (and reads its read watermark from); its chat is the row it is nested in. */
export interface ChatMemberFacts {
  id: string;
  userId: string;
  role: ChatRole;
  /** JSON timestamps. */
  joinedAt: string;
  lastReadSeq: number;
  lastReadAt: string | null;
}

/** The viewer's unsent text in a chat (wire-contract-v2.2 §4). */
export interface DraftRow {
  text: string;
  /** Null when the replied-to message is gone. */
  replyToId: string | null;
  updatedAt: string;
}

/**
 * A chat as one viewer's list shows it: the chat, the viewer's unread count, archive state and
 * draft, its memberships (joined first) and the id of its last message as the viewer sees it.
 * Timestamps are JSON timestamps.
 */
export interface ChatViewRow {
  id: string;
  type: ChatType;
  numericId: number;
  name: string | null;
  description: string | null;
  avatar: string | null;
  pinnedMessageId: string | null;
  createdAt: string;
  unread: number;
  /** The chat's place in the list, `<rank>|<key>` (see listRank and listKey), for keyset cursors. */
  sortKey: string;
  /** The viewer's own pin, mute and archive times. */
  pinnedAt: string | null;
  mutedUntil: string | null;
  archivedAt: string | null;
  draft: DraftRow | null;
  members: ChatMemberFacts[];
  lastMessageId: string | null;
}

/**
 * Chats as one viewer sees them, with every member's profile and privacy facts once (a member
 * of many chats, the viewer first of all, is read once), which partners of the viewer's DIRECT
 * and SECRET chats among them have blocked the viewer (the client's "blocked" banner), and the
 * chats' last messages as a message set.
 */
export interface ChatViewSet {
  chats: ChatViewRow[];
  users: UserFacts[];
  blockedBy: string[];
  lastMessages: MessageSet;
}

/** The state a member keeps for themselves in a chat (mute, pin, archive): its new value, and whether the call changed it. */
export interface MemberStateChange {
  value: Date | null;
  changed: boolean;
}

const epochMicros = (ts: string) => `(extract(epoch FROM ${ts}) * 1000000)::bigint`;
/**
 * The chat list's order, the client's own (wire-contract-v2.2 §3): the viewer's pinned chats
 * first, oldest pin first, then the others by last activity as the viewer sees it
 * (viewerActivitySql), newest first; ties by id. As
 * ascending keys, for cursors: rank (0 pinned, 1 not), then the pin time or the negated activity
 * time in exact microseconds, then the id. listOrder sorts the same on the columns themselves
 * (timestamps are whole microseconds), so the keys are computed only for the chats returned.
 */
const listRank = (member: string) => `(${member}.pinned_at IS NULL)::int`;
/** `activity`: the chat's last activity as the member sees it (viewerActivitySql, or a column holding it). */
const listKey = (member: string, activity: string) =>
  `CASE WHEN ${member}.pinned_at IS NOT NULL THEN ${epochMicros(`${member}.pinned_at`)} ELSE -${epochMicros(activity)} END`;
// Activity orders only the unpinned chats: pinned ones tied on their pin time go by id, as the cursor does.
const listOrder = (member: string, activity: string, chatId: string) =>
  `(${member}.pinned_at IS NULL), ${member}.pinned_at, CASE WHEN ${member}.pinned_at IS NULL THEN ${activity} END DESC, ${chatId}`;

/** SQL: whether membership `m` hid the last message of chat `c` (a member who never hid anything costs no lookup). */
const hidLastSql = (m: string, c: string): string =>
  `${m}.hides_messages AND EXISTS (SELECT 1 FROM message_hides h WHERE h.message_id = ${c}.last_message_id AND h.user_id = ${m}.user_id)`;
/** SQL: `column` of the newest message of chat `c` that membership `m` did not hide. */
const ownLastSql = (m: string, c: string, column: string): string =>
  `(SELECT msg.${column} FROM messages msg WHERE msg.chat_id = ${c}.id AND NOT ${hiddenForSql(`${m}.user_id`)} ORDER BY msg.id DESC LIMIT 1)`;
/**
 * SQL: the last activity of chat `c` as membership `m` sees it, what the list sorts by: the
 * chat's own, unless the member hid its last message; then the time of the last message they
 * see (the chat's creation when they see none), as the client sorts by lastMessage.
 */
const viewerActivitySql = (m: string, c: string): string =>
  `CASE WHEN ${hidLastSql(m, c)} THEN coalesce(${ownLastSql(m, c, 'created_at')}, ${c}.created_at) ELSE ${c}.last_activity_at END`;

/** A chat of chatViewsSql's `chats`: ChatViewRow's scalars in this order. */
type ChatTuple = [
  id: string,
  type: ChatType,
  numericId: number,
  name: string | null,
  description: string | null,
  avatar: string | null,
  pinnedMessageId: string | null,
  createdAt: string,
  unread: number,
  sortKey: string,
  pinnedAt: string | null,
  mutedUntil: string | null,
  archivedAt: string | null,
  draftText: string | null,
  draftReplyToId: string | null,
  draftUpdatedAt: string | null,
  lastMessageId: string | null,
];
type MemberTuple = [chatId: string, id: string, userId: string, role: ChatRole, joinedAt: string, lastReadSeq: number, lastReadAt: string | null];
type ChatViewColumns = MessageSetColumns & { chats: ChatTuple[]; members: MemberTuple[]; users: UserFactsTuple[]; blockedBy: string[] };

/**
 * SQL: the reply target of the draft of membership row `m` while that message is there and its
 * member did not hide it (§7.2: gone from everything they get); no hide lookup for a member who
 * never hid anything.
 */
const draftReplySql = (m: string): string =>
  `CASE WHEN ${m}.draft_reply_to_id IS NOT NULL THEN (SELECT msg.id FROM messages msg WHERE msg.id = ${m}.draft_reply_to_id AND NOT ${hiddenForSql(`${m}.user_id`, `${m}.hides_messages`)}) END`;

/** SQL: chat `c` as member `m` sees it, the columns of chatViewsSql's `cp` (ChatTuple's sources). */
const VIEWER_CHAT_COLUMNS = `c.id, c.type, c.numeric_id, c.name, c.description, c.avatar, c.created_at, ${viewerActivitySql('m', 'c')} AS last_activity_at,
         CASE WHEN c.pinned_message_id IS NOT NULL THEN (SELECT pm.id FROM messages pm WHERE pm.id = c.pinned_message_id) END AS pinned_message_id,
         CASE WHEN ${hidLastSql('m', 'c')} THEN ${ownLastSql('m', 'c', 'id')} ELSE c.last_message_id END AS last_message_id,
         m.pinned_at, m.muted_until, m.archived_at, m.draft_text, m.draft_updated_at,
         ${draftReplySql('m')} AS draft_reply_to_id,
         CASE WHEN c.message_seq > m.last_read_seq THEN
           GREATEST(c.message_seq - m.last_read_seq
                    - (SELECT count(*) FROM deleted_message_seqs d WHERE d.chat_id = c.id AND d.seq > m.last_read_seq)
                    - CASE WHEN m.hides_messages
                           THEN (SELECT count(*) FROM message_hides h WHERE h.user_id = m.user_id AND h.chat_id = c.id AND h.seq > m.last_read_seq) ELSE 0 END, 0)::int
         ELSE 0 END AS unread`;

/** SQL: the ChatTuple of a `cp` row. */
const CHAT_TUPLE = `json_build_array(cp.id, cp.type, cp.numeric_id, cp.name, cp.description, cp.avatar, cp.pinned_message_id, cp.created_at,
       cp.unread, concat(${listRank('cp')}, '|', ${listKey('cp', 'cp.last_activity_at')}), cp.pinned_at, cp.muted_until, cp.archived_at, cp.draft_text,
       CASE WHEN cp.draft_text IS NOT NULL THEN cp.draft_reply_to_id END, cp.draft_updated_at, cp.last_message_id)`;
/** SQL: the columns of a membership `cm` a `mem` CTE holds (MemberTuple's sources), and that CTE as a JSON array of MemberTuple. */
const MEMBER_COLUMNS = `cm.chat_id, cm.id, cm.user_id, cm.role, cm.joined_at, cm.last_read_seq, cm.last_read_at`;
const MEMBERS_JSON = `(SELECT coalesce(json_agg(json_build_array(mem.chat_id, mem.id, mem.user_id, mem.role, mem.joined_at, mem.last_read_seq, mem.last_read_at)
     ORDER BY mem.joined_at, mem.id), '[]') FROM mem)`;

/**
 * A ChatViewSet of viewer $1 for the memberships `where` selects (in list order, at most
 * `limit`; a null limit is no limit), in one round trip. Each part is one JSON array of arrays
 * (see message-set.ts for why): the chats, their members (one range of chat_members per chat,
 * read once for the members and their profiles), the members' UserFacts (each user once), and
 * the last messages as a message set whose senders, when members, come from those UserFacts.
 * Unread is a subtraction of two counters, less the deleted messages past the watermark (an
 * index range, nearly always empty, not even looked at when the viewer read everything): never a
 * COUNT over messages. A viewer who hid messages in a chat (chat_members.hides_messages) also
 * loses the hidden ones past the watermark from unread, and sees the newest message they did not
 * hide as the last one; for everyone else neither costs a lookup. The viewer's pin, mute, archive
 * time and draft come from the viewer's own membership row.
 */
const chatViewsSql = (where: string, limit: string): string => `WITH cp AS MATERIALIZED (
  SELECT ${VIEWER_CHAT_COLUMNS}
    FROM chat_members m JOIN chats c ON c.id = m.chat_id
   WHERE ${where}
   ORDER BY ${listOrder('m', viewerActivitySql('m', 'c'), 'c.id')} LIMIT ${limit}
), mem AS MATERIALIZED (
  SELECT ${MEMBER_COLUMNS} FROM cp JOIN chat_members cm ON cm.chat_id = cp.id
), page AS MATERIALIZED (
  SELECT ${SET_COLUMNS} FROM messages msg WHERE msg.id IN (SELECT cp.last_message_id FROM cp)
)
SELECT
  (SELECT coalesce(json_agg(${CHAT_TUPLE} ORDER BY ${listOrder('cp', 'cp.last_activity_at', 'cp.id')}), '[]') FROM cp) AS chats,
  ${MEMBERS_JSON} AS members,
  (${userFactsJsonSql('u.id IN (SELECT mem.user_id FROM mem)', '$1')}) AS users,
  (SELECT coalesce(json_agg(bk.blocker_id), '[]') FROM blocks bk
    WHERE bk.blocked_id = $1 AND bk.blocker_id IN (SELECT mem.user_id FROM mem JOIN cp ON cp.id = mem.chat_id WHERE cp.type IN ('DIRECT', 'SECRET'))) AS "blockedBy",
  ${messageSetSql('page', '$1::uuid', 'SELECT mem.user_id FROM mem')}`;
const LIST_MEMBERSHIPS = `m.user_id = $1 AND m.visible AND (m.archived_at IS NOT NULL) = $2`;
/**
 * The start of the viewer's list of visible chats, archived ($2) or not: at most $3 (null: all
 * of them). Apart from the paging statement below, so that its plan (one for all callers, the
 * statement being prepared) is not shaped by a cursor condition the web client never sends.
 */
const VIEW_FIRST_SQL = chatViewsSql(LIST_MEMBERSHIPS, '$3');
/** The viewer's list after a cursor position ($3 rank, $4 key, $5 id): at most $6. */
const VIEW_AFTER_SQL = chatViewsSql(`${LIST_MEMBERSHIPS} AND (${listRank('m')}, ${listKey('m', viewerActivitySql('m', 'c'))}, c.id) > ($3::int, $4::bigint, $5::uuid)`, '$6');
const VIEW_ONE_SQL = chatViewsSql(`m.chat_id = $2 AND m.user_id = $1`, '1');

/**
 * Chat $1 as each of its members $2 (uuid[]) sees it, in one round trip where chatViewsSql would
 * take one per member (a group's change reaches all of them, each reading every member). What is
 * the same for all (the members, their profiles, the last message) is read once; each viewer's
 * own part (unread, pin, mute, archive, draft) comes from their membership row, and their
 * relations to the members (contact, block) from userFactsAmongJsonSql. A viewer who hid
 * messages in the chat has their own last message (the newest they did not hide) and unread
 * count from their row, as chatViewsSql reads them; the one thing read here for nobody in
 * particular is the reply preview of a last message, so a viewer whose last message replies to a
 * message they hid is flagged (the chats part's second position) and read with VIEW_ONE_SQL.
 */
const VIEW_FOR_MEMBERS_SQL = `WITH cp AS MATERIALIZED (
  SELECT m.user_id AS viewer_id, m.hides_messages, ${VIEWER_CHAT_COLUMNS}
    FROM chat_members m JOIN chats c ON c.id = m.chat_id
   WHERE m.chat_id = $1 AND m.user_id = ANY($2::uuid[])
), mem AS MATERIALIZED (
  SELECT ${MEMBER_COLUMNS} FROM chat_members cm WHERE cm.chat_id = $1
), page AS MATERIALIZED (
  SELECT ${SET_COLUMNS} FROM messages msg WHERE msg.id IN (SELECT cp.last_message_id FROM cp)
), people AS MATERIALIZED (
  SELECT mem.user_id AS id FROM mem
  UNION SELECT p.sender_id FROM page p WHERE p.sender_id IS NOT NULL
  UNION SELECT rp.sender_id FROM page p JOIN messages rp ON rp.id = p.reply_to_id WHERE rp.sender_id IS NOT NULL
)
SELECT
  (SELECT coalesce(json_agg(json_build_array(cp.viewer_id,
       cp.hides_messages AND EXISTS (SELECT 1 FROM page p JOIN message_hides h ON h.message_id = p.reply_to_id AND h.user_id = cp.viewer_id WHERE p.id = cp.last_message_id),
       ${CHAT_TUPLE})), '[]') FROM cp) AS chats,
  ${MEMBERS_JSON} AS members,
  (${userFactsAmongJsonSql('u.id IN (SELECT people.id FROM people)', '$2::uuid[]')}) AS users,
  ${messageSetSql('page', 'NULL::uuid', 'SELECT people.id FROM people')}`;
type MembersViewColumns = MessageSetColumns & { chats: Array<[viewerId: string, ownView: boolean, chat: ChatTuple]>; members: MemberTuple[]; users: UserFactsAmongTuple[] };

/** The views of one chat for many of its members (ChatsRepository.viewForMembers). */
export interface MembersViewSets {
  /** The viewers (members) whose sets were read. */
  viewerIds: string[];
  /** What chatViewsSql would have read for the viewer alone: built on demand (each holds a profile of every member). */
  setFor(viewerId: string): ChatViewSet;
  /** The viewers whose last message replies to a message they hid: their views are to be read one by one (viewOne). */
  ownViews: string[];
  /** Everyone the sets show. */
  userIds: string[];
}

/** A chatViewsSql result, named. */
function decodeChatViews(viewerId: string, columns: ChatViewColumns): ChatViewSet {
  const membersOf = membersByChat(columns.members);
  const chats = columns.chats.map((t) => decodeChat(t, membersOf));
  const users = columns.users.map(decodeUserFacts);
  const lastMessages = decodeMessageSet(columns, viewerId, users.map((u) => senderFromFacts(u, viewerId)));
  return { chats, users, blockedBy: columns.blockedBy, lastMessages };
}

/** A VIEW_FOR_MEMBERS_SQL result as each viewer's ChatViewSet. */
function decodeMembersViews(columns: MembersViewColumns): MembersViewSets {
  const membersOf = membersByChat(columns.members);
  const among = new UserFactsAmong(columns.users);
  // The senders of the last messages and of the messages they reply to, all among the users read.
  const senderIds = new Set(columns.messages.flatMap((m) => [m[3], m[18]?.[1] ?? null]).filter((id): id is string => id !== null));
  const chats = new Map<string, ChatTuple>();
  const ownViews: string[] = [];
  for (const [viewerId, ownView, t] of columns.chats) {
    if (ownView) ownViews.push(viewerId);
    else chats.set(viewerId, t);
  }
  const setFor = (viewerId: string): ChatViewSet => {
    const chat = decodeChat(chats.get(viewerId)!, membersOf);
    const users = among.towards(viewerId);
    const senders = users.filter((u) => senderIds.has(u.id)).map((u) => senderFromFacts(u, viewerId));
    const blockedBy = chat.type === 'DIRECT' || chat.type === 'SECRET' ? among.blockersOf(viewerId) : [];
    return { chats: [chat], users, blockedBy, lastMessages: decodeMessageSet(columns, viewerId, senders) };
  };
  return { viewerIds: [...chats.keys()], setFor, ownViews, userIds: among.ids };
}

/** MemberTuples as ChatMemberFacts, by chat. */
function membersByChat(members: MemberTuple[]): Map<string, ChatMemberFacts[]> {
  const membersOf = new Map<string, ChatMemberFacts[]>();
  for (const [chatId, id, userId, role, joinedAt, lastReadSeq, lastReadAt] of members) {
    const member = { id, userId, role, joinedAt, lastReadSeq, lastReadAt };
    const list = membersOf.get(chatId);
    if (list) list.push(member);
    else membersOf.set(chatId, [member]);
  }
  return membersOf;
}

function decodeChat(t: ChatTuple, membersOf: Map<string, ChatMemberFacts[]>): ChatViewRow {
  const [id, type, numericId, name, description, avatar, pinnedMessageId, createdAt, unread, sortKey, pinnedAt, mutedUntil, archivedAt, draftText, draftReplyToId, draftUpdatedAt, lastMessageId] = t;
  return {
    id,
    type,
    numericId,
    name,
    description,
    avatar,
    pinnedMessageId,
    createdAt,
    unread,
    sortKey,
    pinnedAt,
    mutedUntil,
    archivedAt,
    draft: draftText === null ? null : { text: draftText, replyToId: draftReplyToId, updatedAt: draftUpdatedAt! },
    members: membersOf.get(id) ?? [],
    lastMessageId,
  };
}

/** The far-future instant a mute without a duration lasts until (v2.2 mutes only "forever"; the client compares it with now). */
export const MUTED_FOREVER = new Date('9999-12-31T23:59:59.000Z');
/** Pinned chats per user and list (the main list, the archive). */
export const MAX_PINNED_CHATS = 5;

/** A cursor position in the chat list (see listRank and listKey). */
export interface ListPosition {
  rank: number;
  key: string;
  id: string;
}

@Injectable()
export class ChatsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  get manager(): EntityManager {
    return this.dataSource.manager;
  }

  transaction<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(work);
  }

  /**
   * The user's membership of the chat with the chat's row. With `lock`, the chat's row is locked
   * first, in a statement of its own, and the membership read after it: one statement that locks
   * and reads would read the member's row as it was when it started, before waiting for the lock
   * (READ COMMITTED re-reads only the locked row), and decide on a role that a transaction holding
   * the lock had just changed (a demoted admin acting; a promoted owner leaving as an admin and
   * leaving the group without an owner).
   */
  async membership(chatId: string, userId: string, tx: EntityManager = this.manager, options: { lock?: boolean } = {}): Promise<Membership | null> {
    if (options.lock) await tx.query(`SELECT 1 FROM chats WHERE id = $1 FOR UPDATE`, [chatId]);
    const rows = (await tx.query(
      `SELECT ${CHAT_COLUMNS}, m.role, m.visible, m.last_read_seq::float8 AS "lastReadSeq"
         FROM chat_members m JOIN chats c ON c.id = m.chat_id
        WHERE m.chat_id = $1 AND m.user_id = $2`,
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
    const found = await this.insertOrFindKeyed(tx, type, pairKey);
    if (found.created) {
      await tx.query(
        `INSERT INTO chat_members (chat_id, user_id, id, role, visible) VALUES ($1, $2, $3, 'MEMBER', true), ($1, $4, $5, 'MEMBER', false)`,
        [found.chatId, creatorId, newId(), targetId, newId()],
      );
      return found;
    }
    // The creator asked for the chat, so it is visible to them from now on.
    await tx.query(`UPDATE chat_members SET visible = true WHERE chat_id = $1 AND user_id = $2 AND NOT visible`, [found.chatId, creatorId]);
    return found;
  }

  /**
   * Inserts a chat with a unique pair key, or finds the one that has it. The row the insert ran
   * into can be deleted before the lookup reads it (the chat deleted at that moment): then the
   * insert is tried again, and makes it.
   */
  private async insertOrFindKeyed(tx: EntityManager, type: ChatType, pairKey: string): Promise<{ chatId: string; created: boolean }> {
    for (;;) {
      const inserted = returned<{ id: string }>(
        await tx.query(`INSERT INTO chats (id, type, pair_key) VALUES ($1, $2, $3) ON CONFLICT (pair_key) WHERE pair_key IS NOT NULL DO NOTHING RETURNING id`, [
          newId(),
          type,
          pairKey,
        ]),
      );
      if (inserted.length) return { chatId: inserted[0].id, created: true };
      const [existing] = (await tx.query(`SELECT id FROM chats WHERE pair_key = $1`, [pairKey])) as Array<{ id: string }>;
      if (existing) return { chatId: existing.id, created: false };
    }
  }

  /**
   * The user's SELF chat (saved messages), created with them as its OWNER if missing. Its pair
   * key `SELF:<user id>` is unique: two simultaneous creations converge on one row, as for pairs.
   */
  async findOrCreateSelf(tx: EntityManager, userId: string): Promise<{ chatId: string; created: boolean }> {
    const found = await this.insertOrFindKeyed(tx, 'SELF', `SELF:${userId}`);
    if (found.created) await tx.query(`INSERT INTO chat_members (chat_id, user_id, id, role) VALUES ($1, $2, $3, 'OWNER')`, [found.chatId, userId, newId()]);
    return found;
  }

  /** Sets the member's mute (null: unmuted); null when they are not a visible member. */
  async setMutedUntil(chatId: string, userId: string, until: Date | null): Promise<MemberStateChange | null> {
    return this.changeMemberState(chatId, userId, 'muted_until', '$3::timestamptz', [until]);
  }

  /**
   * Archives (keeping the first archive time on a repeat) or unarchives; null when not a visible
   * member. A pinned chat keeps its pin in the list it moves to only while that list has fewer
   * than MAX_PINNED_CHATS pinned (each list's limit, as setPinned counts it); otherwise it arrives
   * unpinned. Under the same lock of the member's `users` row as setPinned, so a pin and a move at
   * once cannot both pass the count.
   */
  async setArchived(chatId: string, userId: string, archived: boolean): Promise<MemberStateChange | null> {
    return this.transaction(async (tx) => {
      await tx.query(`SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, [userId]);
      const rows = returned<MemberStateChange>(
        await tx.query(
          `UPDATE chat_members m SET archived_at = CASE WHEN $3::boolean THEN coalesce(old.archived_at, now()) END,
                  pinned_at = CASE WHEN old.pinned_at IS NULL OR (old.archived_at IS NOT NULL) = $3::boolean THEN old.pinned_at
                                   WHEN (SELECT count(*) FROM chat_members p
                                          WHERE p.user_id = $2 AND p.pinned_at IS NOT NULL AND (p.archived_at IS NOT NULL) = $3::boolean) >= $4 THEN NULL
                                   ELSE old.pinned_at END
             FROM chat_members old
            WHERE m.chat_id = $1 AND m.user_id = $2 AND m.visible AND old.chat_id = m.chat_id AND old.user_id = m.user_id
            RETURNING m.archived_at AS value, old.archived_at IS DISTINCT FROM m.archived_at AS changed`,
          [chatId, userId, archived, MAX_PINNED_CHATS],
        ),
      );
      return rows[0] ?? null;
    });
  }

  /**
   * Pins (keeping the first pin time on a repeat) or unpins. A new pin is refused ('limit')
   * when the member already has MAX_PINNED_CHATS pinned in the same list as this chat (the main
   * list or the archive); the member's row in `users` is locked first, so two pins at once
   * cannot both pass the count. Null when not a visible member.
   */
  async setPinned(chatId: string, userId: string, pinned: boolean): Promise<MemberStateChange | 'limit' | null> {
    return this.transaction(async (tx) => {
      await tx.query(`SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, [userId]);
      const [current] = (await tx.query(
        `SELECT m.pinned_at AS "pinnedAt",
                (SELECT count(*)::int FROM chat_members p
                  WHERE p.user_id = $2 AND p.pinned_at IS NOT NULL AND (p.archived_at IS NULL) = (m.archived_at IS NULL)) AS "pinnedInList"
           FROM chat_members m WHERE m.chat_id = $1 AND m.user_id = $2 AND m.visible`,
        [chatId, userId],
      )) as Array<{ pinnedAt: Date | null; pinnedInList: number }>;
      if (!current) return null;
      if (pinned === (current.pinnedAt !== null)) return { value: current.pinnedAt, changed: false };
      if (pinned && current.pinnedInList >= MAX_PINNED_CHATS) return 'limit';
      return this.changeMemberState(chatId, userId, 'pinned_at', 'CASE WHEN $3::boolean THEN now() END', [pinned], tx);
    });
  }

  /**
   * Stores the member's draft. `replyToId` is kept only when it names a message of this chat
   * the member did not hide (null otherwise). Resolves the stored draft, or null when the caller is not a visible member.
   */
  async saveDraft(chatId: string, userId: string, text: string, replyToId: string | null): Promise<{ text: string; replyToId: string | null; updatedAt: Date } | null> {
    const rows = returned<{ text: string; replyToId: string | null; updatedAt: Date }>(
      await this.manager.query(
        `UPDATE chat_members SET draft_text = $3, draft_updated_at = now(),
                draft_reply_to_id = (SELECT msg.id FROM messages msg WHERE msg.id = $4::uuid AND msg.chat_id = $1 AND NOT ${hiddenForSql('$2::uuid')})
          WHERE chat_id = $1 AND user_id = $2 AND visible
          RETURNING draft_text AS text, draft_reply_to_id AS "replyToId", draft_updated_at AS "updatedAt"`,
        [chatId, userId, text, replyToId],
      ),
    );
    return rows[0] ?? null;
  }

  /** The chat's pinned message id as stored now (null: none), or undefined when the chat is gone. */
  async pinnedMessageOf(chatId: string): Promise<string | null | undefined> {
    const [row] = (await this.manager.query(`SELECT pinned_message_id AS "pinnedMessageId" FROM chats WHERE id = $1`, [chatId])) as Array<{ pinnedMessageId: string | null }>;
    return row ? row.pinnedMessageId : undefined;
  }

  /** The member's draft as stored now (text null: none), or null when they are not a visible member. */
  async draftOf(chatId: string, userId: string): Promise<{ text: string | null; replyToId: string | null } | null> {
    const [row] = (await this.manager.query(`SELECT m.draft_text AS text, ${draftReplySql('m')} AS "replyToId" FROM chat_members m WHERE m.chat_id = $1 AND m.user_id = $2 AND m.visible`, [
      chatId,
      userId,
    ])) as Array<{ text: string | null; replyToId: string | null }>;
    return row ?? null;
  }

  /** Removes the member's draft; resolves whether there was one, or null when the caller is not a visible member. */
  async clearDraft(chatId: string, userId: string): Promise<boolean | null> {
    const rows = returned<{ changed: boolean }>(
      await this.manager.query(
        `UPDATE chat_members m SET draft_text = NULL, draft_reply_to_id = NULL, draft_updated_at = NULL
           FROM chat_members old
          WHERE m.chat_id = $1 AND m.user_id = $2 AND m.visible AND old.chat_id = m.chat_id AND old.user_id = m.user_id
          RETURNING old.draft_text IS NOT NULL AS changed`,
        [chatId, userId],
      ),
    );
    return rows[0]?.changed ?? null;
  }

  /**
   * Sets one of the member's own state columns to `value` (SQL over $3… and `old`, the row as it
   * was) in one statement; resolves the new value and whether it changed.
   */
  private async changeMemberState(
    chatId: string,
    userId: string,
    column: 'muted_until' | 'archived_at' | 'pinned_at',
    value: string,
    params: unknown[],
    tx: EntityManager = this.manager,
  ): Promise<MemberStateChange | null> {
    const rows = returned<MemberStateChange>(
      await tx.query(
        `UPDATE chat_members m SET ${column} = ${value}
           FROM chat_members old
          WHERE m.chat_id = $1 AND m.user_id = $2 AND m.visible AND old.chat_id = m.chat_id AND old.user_id = m.user_id
          RETURNING m.${column} AS value, old.${column} IS DISTINCT FROM m.${column} AS changed`,
        [chatId, userId, ...params],
      ),
    );
    return rows[0] ?? null;
  }

  async createGroup(tx: EntityManager, name: string, description: string | null, avatar: string | null, ownerId: string, memberIds: string[]): Promise<string> {
    const chatId = newId();
    await tx.query(`INSERT INTO chats (id, type, name, description, avatar) VALUES ($1, 'GROUP', $2, $3, $4)`, [chatId, name, description, avatar]);
    await tx.query(`INSERT INTO chat_members (chat_id, user_id, id, role) VALUES ($1, $2, $3, 'OWNER')`, [chatId, ownerId, newId()]);
    await this.addMembers(tx, chatId, memberIds);
    return chatId;
  }

  /**
   * Adds members; resolves the ids actually added (existing members are skipped). Moves the
   * chat's member_epoch on, as a removal does: a group commit that read the members before this
   * committed would store its message after the addition (in the newcomer's history and unread)
   * without delivering it to them; it leaves the chat to be written again (INSERT_BATCH_SQL).
   */
  async addMembers(tx: EntityManager, chatId: string, userIds: string[]): Promise<string[]> {
    if (!userIds.length) return [];
    const rows = returned<{ userId: string }>(
      await tx.query(
        `WITH added AS (
           INSERT INTO chat_members (chat_id, user_id, id, role, last_read_seq)
           SELECT $1, u, gen_random_uuid(), 'MEMBER', c.message_seq FROM unnest($2::uuid[]) AS u, chats c WHERE c.id = $1
           ON CONFLICT (chat_id, user_id) DO NOTHING RETURNING user_id
         ), epoch AS (UPDATE chats SET member_epoch = member_epoch + 1 WHERE id = $1 AND EXISTS (SELECT 1 FROM added))
         SELECT user_id AS "userId" FROM added`,
        [chatId, userIds],
      ),
    );
    return rows.map((r) => r.userId);
  }

  /**
   * Removes the membership, with the member's own state in the chat (draft, pin, mute, archive,
   * hidden messages), and moves the chat's member_epoch on: a group commit that read the member
   * before this committed leaves the chat's messages to be checked again (INSERT_BATCH_SQL).
   */
  async removeMember(tx: EntityManager, chatId: string, userId: string): Promise<boolean> {
    const rows = returned(
      await tx.query(
        `WITH gone AS (DELETE FROM chat_members WHERE chat_id = $1 AND user_id = $2 RETURNING user_id),
              epoch AS (UPDATE chats SET member_epoch = member_epoch + 1 WHERE id = $1 AND EXISTS (SELECT 1 FROM gone))
         SELECT user_id FROM gone`,
        [chatId, userId],
      ),
    );
    await tx.query(`DELETE FROM message_hides WHERE user_id = $2 AND chat_id = $1`, [chatId, userId]);
    return rows.length > 0;
  }

  /** Records that a manager removed the user from the group: links no longer let them back in (a repeat keeps the latest time). */
  async recordRemoval(tx: EntityManager, chatId: string, userId: string): Promise<void> {
    await tx.query(
      `INSERT INTO chat_removals (chat_id, user_id) VALUES ($1, $2) ON CONFLICT (chat_id, user_id) DO UPDATE SET removed_at = excluded.removed_at`,
      [chatId, userId],
    );
  }

  /** Forgets the removals of users a manager added back on purpose: links let them in again. */
  async forgetRemovals(tx: EntityManager, chatId: string, userIds: string[]): Promise<void> {
    if (userIds.length) await tx.query(`DELETE FROM chat_removals WHERE chat_id = $1 AND user_id = ANY($2::uuid[])`, [chatId, userIds]);
  }

  async wasRemoved(tx: EntityManager, chatId: string, userId: string): Promise<boolean> {
    const rows = (await tx.query(`SELECT 1 FROM chat_removals WHERE chat_id = $1 AND user_id = $2`, [chatId, userId])) as unknown[];
    return rows.length > 0;
  }

  async setRole(tx: EntityManager, chatId: string, userId: string, role: ChatRole): Promise<void> {
    await tx.query(`UPDATE chat_members SET role = $3 WHERE chat_id = $1 AND user_id = $2`, [chatId, userId, role]);
  }

  /**
   * Sets the chat's pinned message: `messageId` must be a message of the chat that is not SYSTEM
   * and that `callerId` did not hide; null unpins. The statement itself requires the caller to be
   * a visible member, so a pin checked before a removal commits is not applied after it. Null
   * when the caller is not a member (any more), false when the message does not qualify.
   */
  async setPinnedMessage(tx: EntityManager, chatId: string, callerId: string, messageId: string | null): Promise<boolean | null> {
    const [result] = (await tx.query(
      `WITH caller AS (SELECT 1 FROM chat_members WHERE chat_id = $1 AND user_id = $3 AND visible),
            pinned AS (
              UPDATE chats SET pinned_message_id = $2::uuid, updated_at = now()
               WHERE id = $1 AND EXISTS (SELECT 1 FROM caller) AND ($2::uuid IS NULL OR EXISTS (
                     SELECT 1 FROM messages msg WHERE msg.id = $2::uuid AND msg.chat_id = $1 AND msg.type <> 'SYSTEM' AND NOT ${hiddenForSql('$3')}))
               RETURNING id)
       SELECT EXISTS (SELECT 1 FROM caller) AS member, EXISTS (SELECT 1 FROM pinned) AS pinned`,
      [chatId, messageId, callerId],
    )) as Array<{ member: boolean; pinned: boolean }>;
    return result.member ? result.pinned : null;
  }

  /** Unpins the message if it is its chat's pinned message (it is being deleted); resolves whether it was. */
  async unpinMessage(tx: EntityManager, chatId: string, messageId: string): Promise<boolean> {
    const rows = returned(await tx.query(`UPDATE chats SET pinned_message_id = NULL WHERE id = $1 AND pinned_message_id = $2 RETURNING id`, [chatId, messageId]));
    return rows.length > 0;
  }

  /**
   * A group without an OWNER gets one: the oldest ADMIN, else the oldest member. Resolves the new
   * owner, or null when the group still has one or nobody is left.
   */
  async passOwnership(tx: EntityManager, chatId: string): Promise<string | null> {
    const rows = returned<{ userId: string }>(
      await tx.query(
        `UPDATE chat_members SET role = 'OWNER' WHERE chat_id = $1 AND user_id = (
           SELECT user_id FROM chat_members WHERE chat_id = $1
            ORDER BY (role = 'ADMIN') DESC, joined_at, id LIMIT 1)
           AND NOT EXISTS (SELECT 1 FROM chat_members o WHERE o.chat_id = $1 AND o.role = 'OWNER')
         RETURNING user_id AS "userId"`,
        [chatId],
      ),
    );
    return rows[0]?.userId ?? null;
  }

  async deleteChat(tx: EntityManager, chatId: string): Promise<void> {
    await tx.query(`DELETE FROM chats WHERE id = $1`, [chatId]);
  }

  /** Applies the changes given (undefined: unchanged); resolves the avatar it had before. */
  async updateInfo(
    tx: EntityManager,
    chatId: string,
    changes: { name?: string; avatar?: string | null; description?: string | null },
  ): Promise<{ avatar: string | null; changed: boolean }> {
    const [previous] = (await tx.query(`SELECT name, avatar, description FROM chats WHERE id = $1`, [chatId])) as Array<{ name: string | null; avatar: string | null; description: string | null }>;
    const differs = (key: keyof typeof changes) => changes[key] !== undefined && changes[key] !== previous?.[key];
    // Nothing that differs: no write, and nothing for the members to hear.
    if (!differs('name') && !differs('avatar') && !differs('description')) return { avatar: previous?.avatar ?? null, changed: false };
    await tx.query(
      `UPDATE chats SET name = CASE WHEN $2 THEN $3 ELSE name END, avatar = CASE WHEN $4 THEN $5 ELSE avatar END,
              description = CASE WHEN $6 THEN $7 ELSE description END, updated_at = now() WHERE id = $1`,
      [
        chatId,
        changes.name !== undefined,
        changes.name ?? null,
        changes.avatar !== undefined,
        changes.avatar ?? null,
        changes.description !== undefined,
        changes.description ?? null,
      ],
    );
    return { avatar: previous?.avatar ?? null, changed: true };
  }

  /** The viewer's visible chats (archived or not) in list order after `after`: `limit` of them, or all with a null limit. */
  async viewPage(viewerId: string, page: { archived: boolean; after: ListPosition | null; limit: number | null }): Promise<ChatViewSet> {
    const [columns] = page.after
      ? await preparedQuery<ChatViewColumns[]>(this.manager, 'chats.view-after', VIEW_AFTER_SQL, [
          viewerId,
          page.archived,
          page.after.rank,
          page.after.key,
          page.after.id,
          page.limit,
        ])
      : await preparedQuery<ChatViewColumns[]>(this.manager, 'chats.view-first', VIEW_FIRST_SQL, [viewerId, page.archived, page.limit]);
    return decodeChatViews(viewerId, columns);
  }

  /** One chat as each of the viewers sees it (VIEW_FOR_MEMBERS_SQL); viewers not members are left out. */
  async viewForMembers(chatId: string, viewerIds: string[]): Promise<MembersViewSets> {
    const [columns] = await preparedQuery<MembersViewColumns[]>(this.manager, 'chats.view-for-members', VIEW_FOR_MEMBERS_SQL, [chatId, viewerIds]);
    return decodeMembersViews(columns);
  }

  /** One chat as a member sees it (visible or not yet); no chat when the viewer is not a member. */
  async viewOne(viewerId: string, chatId: string): Promise<ChatViewSet> {
    const [columns] = await preparedQuery<ChatViewColumns[]>(this.manager, 'chats.view-one', VIEW_ONE_SQL, [viewerId, chatId]);
    return decodeChatViews(viewerId, columns);
  }

  async groupsOf(tx: EntityManager, userId: string): Promise<string[]> {
    const rows = (await tx.query(`SELECT m.chat_id AS "chatId" FROM chat_members m JOIN chats c ON c.id = m.chat_id WHERE m.user_id = $1 AND c.type = 'GROUP'`, [userId])) as Array<{ chatId: string }>;
    return rows.map((r) => r.chatId);
  }

  /** The groups whose last message is the user's (groups they left included): an account deletion changes what they show. */
  async groupsEndingWith(tx: EntityManager, userId: string): Promise<string[]> {
    const rows = (await tx.query(`SELECT c.id AS "chatId" FROM chats c JOIN messages m ON m.id = c.last_message_id WHERE m.sender_id = $1 AND c.type = 'GROUP'`, [userId])) as Array<{
      chatId: string;
    }>;
    return rows.map((r) => r.chatId);
  }

}
