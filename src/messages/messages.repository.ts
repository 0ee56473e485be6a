import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { idBoundAt, MAX_UUID, MIN_UUID, newId, uuidV7RandomBits } from '../core/database/ids';
import { preparedQuery } from '../core/database/prepared';
import { returned } from '../core/database/query-results';
import { ChatType } from '../chats/entities/chat.entity';
import { ReceiptFacts, receiptFactsSql } from '../users/read-receipts';
import { blockedWithSql } from '../users/users.repository';
import { MessageEntity, MessageType } from './entities/message.entity';
import { ReactionEntity } from './entities/reaction.entity';

/** The message columns as MessageEntity fields; `t` qualifies them with a table alias. */
const columns = (t = '') => `${t}id, ${t}chat_id AS "chatId", ${t}sender_id AS "senderId", ${t}seq::float8 AS seq, ${t}type, ${t}text,
  ${t}media_url AS "mediaUrl", ${t}media_name AS "mediaName", ${t}media_size::float8 AS "mediaSize", ${t}media_group_id AS "mediaGroupId",
  ${t}reply_to_id AS "replyToId", ${t}forwarded_from_id AS "forwardedFromId", ${t}forward_sender_name AS "forwardSenderName",
  ${t}ciphertext, ${t}signal_type AS "signalType", ${t}client_message_id AS "clientMessageId", ${t}is_edited AS "isEdited",
  ${t}created_at AS "createdAt", ${t}updated_at AS "updatedAt"`;
const COLUMNS = columns();

/**
 * A message row with everything its MessageDto needs except read receipts: the sender, the
 * reply preview, reactions (with nicknames) and, for voice messages, listens. Correlated
 * lookups by primary key or by the leading column of an index, so a page costs one statement.
 */
const RICH_COLUMNS = `${columns('msg.')},
  CASE WHEN su.id IS NULL THEN NULL
       ELSE json_build_object('id', su.id, 'nickname', su.nickname, 'firstName', su.first_name, 'lastName', su.last_name, 'avatar', su.avatar) END AS "senderRow",
  CASE WHEN msg.reply_to_id IS NULL THEN NULL ELSE (
    SELECT json_build_object('id', rp.id, 'text', rp.text, 'sender', CASE WHEN ru.id IS NULL THEN NULL
             ELSE json_build_object('id', ru.id, 'nickname', ru.nickname, 'firstName', ru.first_name, 'lastName', ru.last_name, 'avatar', ru.avatar) END)
      FROM messages rp LEFT JOIN users ru ON ru.id = rp.sender_id WHERE rp.id = msg.reply_to_id) END AS "replyRow",
  (SELECT coalesce(json_agg(json_build_object('id', r.id, 'messageId', r.message_id, 'userId', r.user_id, 'emoji', r.emoji, 'nickname', rn.nickname) ORDER BY r.created_at, r.id), '[]')
     FROM reactions r JOIN users rn ON rn.id = r.user_id WHERE r.message_id = msg.id) AS "reactionRows",
  CASE WHEN msg.type = 'AUDIO' THEN (
    SELECT coalesce(json_agg(json_build_object('userId', l.user_id)), '[]') FROM message_listens l WHERE l.message_id = msg.id) END AS "listenRows"`;
const RICH_FROM = `messages msg LEFT JOIN users su ON su.id = msg.sender_id`;
/**
 * Rich message rows (RichMessageRow) matching `where`, over the alias `msg`: also a fragment
 * that other statements nest (the chat list's last messages).
 */
export const richMessagesSql = (where: string): string => `SELECT ${RICH_COLUMNS} FROM ${RICH_FROM} WHERE ${where}`;
const RICH_BY_IDS_SQL = richMessagesSql('msg.id = ANY($1::uuid[])');

/**
 * The read watermarks of the members of chat $1 with each member's visibility, the chat's type
 * and the facts of who among `viewers` (an SQL uuid[]) may see each member's read receipts.
 */
const chatWatermarksSql = (viewers: string): string => `SELECT m.chat_id AS "chatId", m.user_id AS "userId",
       m.last_read_seq::float8 AS "lastReadSeq", m.last_read_at AS "lastReadAt", m.visible, c.type AS "chatType",
       ${receiptFactsSql('m.user_id', viewers)}
  FROM chat_members m JOIN chats c ON c.id = m.chat_id WHERE m.chat_id = $1`;
const CHAT_WATERMARKS_SQL = chatWatermarksSql('ARRAY[$2::uuid]');

/**
 * A message row `msg` is hidden for `viewer` (an SQL uuid): a probe of message_hides' primary
 * key. `gate` is an SQL boolean that is false when the viewer never hid anything in the chat, so
 * the probe is skipped for them (see MessageHides1764000007200).
 */
export const hiddenForSql = (viewer: string, gate = 'true'): string =>
  `(${gate} AND EXISTS (SELECT 1 FROM message_hides h WHERE h.user_id = ${viewer} AND h.chat_id = msg.chat_id AND h.seq = msg.seq))`;

/** Whether caller $2 ever hid a message in chat $1: read once per statement (an InitPlan). */
const CALLER_HIDES = `coalesce((SELECT v.hides_messages FROM chat_members v WHERE v.chat_id = $1 AND v.user_id = $2), false)`;

/**
 * The history filters of v2.2 over `msg`, as parameters `first`…`first + 5`. The id bounds (ids
 * are UUIDv7, so a date maps to an id bound) keep the page a range of messages_chat_id_idx; the
 * created_at bounds make `from` and `to` exact, inclusive bounds on createdAt (`to` is passed as
 * the end of its millisecond, exclusive).
 */
const historyFiltersSql = (first: number): string => {
  const [fromId, from, toId, to, sender, type] = [0, 1, 2, 3, 4, 5].map((i) => `$${first + i}`);
  return `msg.id >= coalesce(${fromId}::uuid, '${MIN_UUID}') AND msg.id < coalesce(${toId}::uuid, '${MAX_UUID}')
    AND (${from}::timestamptz IS NULL OR msg.created_at >= ${from}::timestamptz) AND (${to}::timestamptz IS NULL OR msg.created_at < ${to}::timestamptz)
    AND (${sender}::uuid IS NULL OR msg.sender_id = ${sender}::uuid) AND (${type}::text IS NULL OR msg.type = ${type}::text)`;
};

/**
 * A history page, with the chat's read watermarks (and what decides which receipts caller $2
 * sees), as two JSON values in one round trip. The page (keyset on messages_chat_id_idx
 * (chat_id, id DESC), stopping after $4 rows, leaving out what the caller hid) is read only when
 * caller $2 is a visible member; otherwise it is null. `filtered` adds the v2.2 filters ($5…$10).
 */
const historyPageSql = (filtered: boolean): string => `SELECT
  (SELECT coalesce(json_agg(w), '[]') FROM (${CHAT_WATERMARKS_SQL}) w) AS watermarks,
  CASE WHEN EXISTS (SELECT 1 FROM chat_members v WHERE v.chat_id = $1 AND v.user_id = $2 AND v.visible) THEN
    (SELECT coalesce(json_agg(p ORDER BY p.id DESC), '[]') FROM (
       ${richMessagesSql(`msg.chat_id = $1 AND msg.id < coalesce($3::uuid, '${MAX_UUID}') AND NOT ${hiddenForSql('$2', CALLER_HIDES)}
         ${filtered ? `AND ${historyFiltersSql(5)}` : ''} ORDER BY msg.id DESC LIMIT $4`)}) p)
  END AS rows`;
const HISTORY_PAGE_SQL = historyPageSql(false);
const FILTERED_HISTORY_PAGE_SQL = historyPageSql(true);

/**
 * The window of history at id bound $3 (a date) for caller $2: the $4 oldest messages from the
 * bound on, filled up with the newest before it, plus one older row that only tells whether
 * older history exists; with the chat's read watermarks. Two ranges of messages_chat_id_idx in
 * one statement; rows null when the caller is not a visible member.
 */
const AROUND_PAGE_SQL = `WITH later AS (
    SELECT msg.id FROM messages msg
     WHERE msg.chat_id = $1 AND msg.id >= $3::uuid AND NOT ${hiddenForSql('$2', CALLER_HIDES)}
     ORDER BY msg.id ASC LIMIT $4
  ), earlier AS (
    SELECT msg.id FROM messages msg
     WHERE msg.chat_id = $1 AND msg.id < $3::uuid AND NOT ${hiddenForSql('$2', CALLER_HIDES)}
     ORDER BY msg.id DESC LIMIT $4 + 1
  ), picked AS (
    -- Cut here, not in the scan above: a LIMIT the planner cannot read would cost the plan as a whole-chat scan.
    SELECT id FROM later
    UNION ALL (SELECT id FROM earlier ORDER BY id DESC LIMIT $4 - (SELECT count(*) FROM later) + 1)
  )
  SELECT
  (SELECT coalesce(json_agg(w), '[]') FROM (${CHAT_WATERMARKS_SQL}) w) AS watermarks,
  CASE WHEN EXISTS (SELECT 1 FROM chat_members v WHERE v.chat_id = $1 AND v.user_id = $2 AND v.visible) THEN
    (SELECT coalesce(json_agg(p ORDER BY p.id DESC), '[]') FROM (
       ${richMessagesSql(`msg.id IN (SELECT id FROM picked)`)}) p)
  END AS rows`;

/**
 * A prefix tsquery from search term $1, through the same parser and `simple` dictionary that fill
 * messages.search: every word of the term must begin a word of the message ('quant' finds
 * 'Quantum', 'прив' finds 'Привет'), case-insensitively. Each lexeme is quoted, so nothing in the
 * term is read as tsquery syntax; a term without words gives NULL.
 */
const PREFIX_QUERY_SQL = `SELECT string_agg('''' || replace(replace(lexeme, '\\', '\\\\'), '''', '''''') || ''':*', ' & ') AS query
  FROM unnest(to_tsvector('simple', $1::text))`;

/** The send path's two statements, prepared once per connection (see preparedQuery). */
const SEND_CONTEXT_SQL = `SELECT c.id AS "chatId", c.type, m.visible,
          (SELECT string_agg(o.user_id::text, ',') FROM chat_members o WHERE o.chat_id = c.id) AS "memberIds",
          (c.type <> 'GROUP' AND EXISTS (
             SELECT 1 FROM chat_members o WHERE o.chat_id = c.id AND o.user_id IN (${blockedWithSql('$2')}))) AS blocked,
          (SELECT d.id FROM messages d WHERE d.sender_id = $2 AND d.client_message_id = $3::text) AS "duplicateId"
     FROM chat_members m JOIN chats c ON c.id = m.chat_id
    WHERE m.chat_id = $1 AND m.user_id = $2`;
/**
 * A new message's id: a UUIDv7 made while the chat's row is locked, from the database clock
 * (48-bit ms), the new sequence number as its 12-bit counter (RFC 9562 method 1) and 64 random
 * bits from the caller ($1). Ids are made in lock order, so they sort as sequence numbers do: a
 * history page (keyset on id) agrees with unread counts and read receipts (sequence arithmetic)
 * even when sends into one chat race.
 */
const MESSAGE_ID = `(lpad(to_hex(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0')
  || '7' || lpad(to_hex((chats.message_seq + 1) % 4096), 3, '0') || $1::text)::uuid`;
const INSERT_SQL = `WITH ctx AS (
     SELECT m.visible, c.type,
            (SELECT string_agg(o.user_id::text, ',') FROM chat_members o WHERE o.chat_id = c.id) AS member_ids,
            (c.type <> 'GROUP' AND EXISTS (
               SELECT 1 FROM chat_members o WHERE o.chat_id = c.id AND o.user_id IN (${blockedWithSql('$3')}))) AS blocked,
            ($15::text IS NOT NULL AND EXISTS (SELECT 1 FROM messages d WHERE d.sender_id = $3 AND d.client_message_id = $15::text)) AS duplicate,
            ($10::uuid IS NULL OR EXISTS (SELECT 1 FROM messages rp WHERE rp.id = $10::uuid AND rp.chat_id = $2)) AS reply_ok,
            m.draft_text IS NOT NULL AS had_draft
       FROM chat_members m JOIN chats c ON c.id = m.chat_id
      WHERE m.chat_id = $2 AND m.user_id = $3
   ), bumped AS (
     UPDATE chats SET message_seq = message_seq + 1, last_message_id = ${MESSAGE_ID}, last_activity_at = now(), updated_at = now()
       FROM ctx
      WHERE chats.id = $2 AND ctx.visible AND NOT ctx.blocked AND NOT ctx.duplicate AND ctx.reply_ok AND (ctx.type = 'SECRET') = $16::boolean
      RETURNING chats.message_seq, chats.last_message_id AS id
   ), inserted AS (
     INSERT INTO messages (id, chat_id, sender_id, seq, type, text, media_url, media_name, media_size, media_group_id,
                           reply_to_id, forwarded_from_id, forward_sender_name, ciphertext, signal_type, client_message_id)
     SELECT bumped.id, $2, $3, bumped.message_seq, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15 FROM bumped
     RETURNING *
   ), sender_read AS (
     UPDATE chat_members SET last_read_seq = (SELECT message_seq FROM bumped), last_read_at = now(),
                             draft_text = NULL, draft_reply_to_id = NULL, draft_updated_at = NULL
      WHERE chat_id = $2 AND user_id = $3 AND EXISTS (SELECT 1 FROM bumped)
   ), revealed AS (
     UPDATE chat_members SET visible = true
      WHERE chat_id = $2 AND NOT visible AND EXISTS (SELECT 1 FROM bumped)
      RETURNING user_id
   )
   SELECT ${columns('i.')}, (SELECT coalesce(array_agg(user_id), '{}') FROM revealed) AS "revealedTo",
          (SELECT member_ids FROM ctx) AS "memberIds", (SELECT had_draft FROM ctx) AS "draftCleared",
          u.nickname AS "senderNickname", u.first_name AS "senderFirstName", u.last_name AS "senderLastName", u.avatar AS "senderAvatar"
     FROM inserted i LEFT JOIN users u ON u.id = i.sender_id`;

export interface NewMessage {
  chatId: string;
  senderId: string;
  type: MessageType;
  text: string | null;
  mediaUrl: string | null;
  mediaName: string | null;
  mediaSize: number | null;
  mediaGroupId: string | null;
  replyToId: string | null;
  forwardedFromId: string | null;
  forwardSenderName: string | null;
  ciphertext: string | null;
  signalType: number | null;
  clientMessageId: string | null;
}

/** The optional history filters of v2.2 (GET /api/chats/:chatId/messages). */
export interface HistoryFilters {
  from?: Date;
  to?: Date;
  senderId?: string;
  type?: MessageType;
}

/** Slack of the `to` id bound: a message's id is made under the chat's row lock, a little after its created_at. */
const ID_CLOCK_SLACK_MS = 60_000;

function filterParams(filters: HistoryFilters): unknown[] {
  return [
    filters.from ? idBoundAt(filters.from) : null,
    filters.from ?? null,
    filters.to ? idBoundAt(new Date(filters.to.getTime() + ID_CLOCK_SLACK_MS)) : null,
    // Dates come with milliseconds; created_at has microseconds: `to` takes in its whole millisecond.
    filters.to ? new Date(filters.to.getTime() + 1) : null,
    filters.senderId ?? null,
    filters.type ?? null,
  ];
}

/** A message to forward, as MessagesRepository.forwardSource reads it. */
export interface ForwardSource extends MessageEntity {
  chatType: ChatType;
  readable: boolean;
  senderNickname: string | null;
  senderFirstName: string | null;
  senderLastName: string | null;
}

export interface SenderRow {
  id: string;
  nickname: string;
  firstName: string | null;
  lastName: string | null;
  avatar: string | null;
}

export interface StoredMessage {
  message: MessageEntity;
  sender: SenderRow | null;
  memberIds: string[];
  revealedTo: string[];
  /** The sender had a draft in the chat: the send cleared it. */
  draftCleared: boolean;
}

interface InsertedExtras {
  revealedTo: string[];
  memberIds: string;
  draftCleared: boolean;
  senderNickname: string | null;
  senderFirstName: string | null;
  senderLastName: string | null;
  senderAvatar: string | null;
}

/** A stored message with what its MessageDto needs besides read receipts (see RICH_COLUMNS). */
export interface RichMessageRow extends MessageEntity {
  senderRow: SenderRow | null;
  /** The replied-to message, null when it is gone (or there is none). */
  replyRow: { id: string; text: string | null; sender: SenderRow | null } | null;
  reactionRows: Array<{ id: string; messageId: string; userId: string; emoji: string; nickname: string }>;
  /** Listens of a voice message; null for other types. */
  listenRows: Array<{ userId: string }> | null;
}

/** What sending needs to know before the insert, read in one round trip. */
export interface SendContext {
  chatId: string;
  type: ChatType;
  /** False for a member who does not see the chat yet: to them it does not exist. */
  visible: boolean;
  memberIds: string[];
  /** A DIRECT or SECRET chat whose two members have a block between them, either way. */
  blocked: boolean;
  /** The sender's message that already carries this clientMessageId, if any. */
  duplicateId: string | null;
}

/** A member's read watermark, with what decides which viewers see their read receipts (read-receipts.ts). */
export interface WatermarkRow extends ReceiptFacts {
  chatId: string;
  userId: string;
  lastReadSeq: number;
  /** A Date from a row, an ISO string from a JSON value. */
  lastReadAt: Date | string | null;
}

@Injectable()
export class MessagesRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  get manager(): EntityManager {
    return this.dataSource.manager;
  }

  transaction<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(work);
  }

  /**
   * The sender's membership, the chat's type and members, whether a block stands between the
   * two members of a pair chat, and an earlier message with the same clientMessageId: one
   * statement, all through primary keys and the (sender_id, client_message_id) unique index.
   * Null when the sender is not a member.
   */
  async sendContext(chatId: string, senderId: string, clientMessageId: string | null): Promise<SendContext | null> {
    // Member ids come as one comma-separated text: splitting it is far cheaper than parsing a 200-element uuid[].
    const rows = await preparedQuery<Array<Omit<SendContext, 'memberIds'> & { memberIds: string }>>(this.manager, 'messages.send-context', SEND_CONTEXT_SQL, [
      chatId,
      senderId,
      clientMessageId,
    ]);
    const row = rows[0];
    return row ? { ...row, memberIds: row.memberIds.split(',') } : null;
  }

  /**
   * Stores a message in one statement (one round trip, atomic): bumps the chat's sequence and
   * last activity, inserts the message with the new sequence number, moves the sender's read
   * watermark to it, clears the sender's draft of the chat, and reveals a direct chat to a
   * target who had not seen it. Nothing is stored (null) unless the sender is a visible member,
   * no block stands between a pair, the clientMessageId is new, the replied-to message is in the
   * chat, and the chat is SECRET exactly when `secret` says so: the caller then learns why from
   * sendContext. Resolves the
   * message, its sender's public fields (so a fresh message needs no second query), the
   * chat's member ids (for the fan-out), the users it was revealed to and whether a draft went.
   */
  async insert(input: NewMessage, secret: boolean): Promise<StoredMessage | null> {
    const rows = await preparedQuery<Array<MessageEntity & InsertedExtras>>(this.manager, 'messages.insert', INSERT_SQL, [
      uuidV7RandomBits(),
      input.chatId,
      input.senderId,
      input.type,
      input.text,
      input.mediaUrl,
      input.mediaName,
      input.mediaSize,
      input.mediaGroupId,
      input.replyToId,
      input.forwardedFromId,
      input.forwardSenderName,
      input.ciphertext,
      input.signalType,
      input.clientMessageId,
      secret,
    ]);
    const row = rows[0];
    if (!row) return null;
    const { revealedTo, memberIds, draftCleared, senderNickname, senderFirstName, senderLastName, senderAvatar, ...message } = row;
    const sender = senderNickname === null ? null : { id: input.senderId, nickname: senderNickname, firstName: senderFirstName, lastName: senderLastName, avatar: senderAvatar };
    return { message: message as MessageEntity, sender, memberIds: memberIds.split(','), revealedTo, draftCleared };
  }

  async findById(id: string, tx: EntityManager = this.manager): Promise<MessageEntity | null> {
    const rows = (await tx.query(`SELECT ${COLUMNS} FROM messages WHERE id = $1`, [id])) as MessageEntity[];
    return rows[0] ?? null;
  }

  async findByIds(ids: string[]): Promise<MessageEntity[]> {
    if (!ids.length) return [];
    return (await this.manager.query(`SELECT ${COLUMNS} FROM messages WHERE id = ANY($1::uuid[])`, [ids])) as MessageEntity[];
  }

  async findRichByIds(ids: string[]): Promise<RichMessageRow[]> {
    if (!ids.length) return [];
    return preparedQuery<RichMessageRow[]>(this.manager, 'messages.rich-by-ids', RICH_BY_IDS_SQL, [ids]);
  }

  async findByClientId(senderId: string, clientMessageId: string): Promise<MessageEntity | null> {
    const rows = (await this.manager.query(`SELECT ${COLUMNS} FROM messages WHERE sender_id = $1 AND client_message_id = $2`, [senderId, clientMessageId])) as MessageEntity[];
    return rows[0] ?? null;
  }

  async existsInChat(messageId: string, chatId: string): Promise<boolean> {
    const rows: unknown[] = await this.manager.query(`SELECT 1 FROM messages WHERE id = $1 AND chat_id = $2`, [messageId, chatId]);
    return rows.length > 0;
  }

  /**
   * A plain history page (newest first, before the cursor) with the read watermarks of the
   * chat's members: one statement. Null when the caller is not a visible member.
   */
  async historyPage(
    chatId: string,
    userId: string,
    page: { before: string | null; limit: number },
    filters: HistoryFilters | null = null,
  ): Promise<{ rows: RichMessageRow[]; watermarks: WatermarkRow[] } | null> {
    type Result = Array<{ rows: RichMessageRow[] | null; watermarks: WatermarkRow[] }>;
    const params = [chatId, userId, page.before, page.limit];
    // The plain page stays a prepared statement (equality on keys, one generic plan); a
    // filtered one is planned for its values, so a type filter may use messages_chat_type_idx.
    const [result] = filters
      ? ((await this.manager.query(FILTERED_HISTORY_PAGE_SQL, [...params, ...filterParams(filters)])) as Result)
      : await preparedQuery<Result>(this.manager, 'messages.history-page', HISTORY_PAGE_SQL, params);
    return result.rows ? { rows: result.rows, watermarks: result.watermarks } : null;
  }

  /** The window of history at a date (see AROUND_PAGE_SQL): up to limit + 1 rows, newest first. Null when the caller is not a visible member. */
  async aroundPage(chatId: string, userId: string, at: Date, limit: number): Promise<{ rows: RichMessageRow[]; watermarks: WatermarkRow[] } | null> {
    const [result] = (await this.manager.query(AROUND_PAGE_SQL, [chatId, userId, idBoundAt(at), limit])) as Array<{ rows: RichMessageRow[] | null; watermarks: WatermarkRow[] }>;
    return result.rows ? { rows: result.rows, watermarks: result.watermarks } : null;
  }

  /**
   * A search term as a prefix tsquery (see PREFIX_QUERY_SQL), or null when it has no words. Made
   * before the search, not inside it: planned with the query's value, the search statement can
   * estimate how common its words are and choose between walking the chat newest first and
   * reading the GIN index.
   */
  async prefixQuery(term: string): Promise<string | null> {
    const [row] = (await this.manager.query(PREFIX_QUERY_SQL, [term])) as Array<{ query: string | null }>;
    return row?.query ?? null;
  }

  /**
   * Search as you type inside one chat: a prefix tsquery (prefixQuery) on the GIN-indexed
   * tsvector, newest first, with the history filters, leaving out what the caller hid; planned
   * for its query.
   */
  async searchInChat(chatId: string, userId: string, page: { before: string | null; limit: number; query: string }, filters: HistoryFilters | null): Promise<RichMessageRow[]> {
    return (await this.manager.query(
      `${richMessagesSql(`msg.chat_id = $1 AND ($3::uuid IS NULL OR msg.id < $3::uuid) AND msg.search @@ $4::tsquery
          AND NOT ${hiddenForSql('$2')} AND ${historyFiltersSql(6)}`)}
        ORDER BY msg.id DESC LIMIT $5`,
      [chatId, userId, page.before, page.query, page.limit, ...filterParams(filters ?? {})],
    )) as RichMessageRow[];
  }

  /**
   * Search as you type (a prefixQuery) across the caller's visible, non-secret chats (the sidebar
   * search), newest first, leaving out what the caller hid; planned for its query: a common word
   * walks messages newest first, a rare one reads the GIN index. (Searched chat by chat instead,
   * the planner would have to cost every chat as an average one and read the GIN index per chat.)
   */
  async search(userId: string, query: string, page: { before: string | null; limit: number }): Promise<RichMessageRow[]> {
    return (await this.manager.query(
      `SELECT ${RICH_COLUMNS} FROM ${RICH_FROM}
         JOIN chat_members m ON m.chat_id = msg.chat_id AND m.user_id = $1 AND m.visible
         JOIN chats c ON c.id = msg.chat_id AND c.type <> 'SECRET'
        WHERE msg.search @@ $2::tsquery AND ($3::uuid IS NULL OR msg.id < $3::uuid) AND NOT ${hiddenForSql('$1', 'm.hides_messages')}
        ORDER BY msg.id DESC LIMIT $4`,
      [userId, query, page.before, page.limit],
    )) as RichMessageRow[];
  }

  async sharedMedia(chatId: string, userId: string, types: MessageType[], page: { before: string | null; limit: number }): Promise<MessageEntity[]> {
    return (await this.manager.query(
      `SELECT ${columns('msg.')} FROM messages msg
        WHERE msg.chat_id = $1 AND msg.type = ANY($3::text[]) AND ($4::uuid IS NULL OR msg.id < $4::uuid) AND NOT ${hiddenForSql('$2', CALLER_HIDES)}
        ORDER BY msg.id DESC LIMIT $5`,
      [chatId, userId, types, page.before, page.limit],
    )) as MessageEntity[];
  }

  /**
   * Hides a message for one member of its chat, in one statement: the hide row (once) and the
   * member's hides_messages flag. Resolves the message's chat and whether the hide is new; null
   * when the message does not exist or the user is not a visible member of its chat.
   */
  async hide(messageId: string, userId: string): Promise<{ chatId: string; created: boolean } | null> {
    const rows = (await this.manager.query(
      `WITH target AS (
         SELECT msg.id, msg.chat_id, msg.seq FROM messages msg
           JOIN chat_members m ON m.chat_id = msg.chat_id AND m.user_id = $2 AND m.visible
          WHERE msg.id = $1
       ), hidden AS (
         INSERT INTO message_hides (user_id, chat_id, seq, message_id) SELECT $2, chat_id, seq, id FROM target
         ON CONFLICT DO NOTHING RETURNING message_id
       ), flagged AS (
         UPDATE chat_members SET hides_messages = true
          WHERE chat_id = (SELECT chat_id FROM target) AND user_id = $2 AND NOT hides_messages
       )
       SELECT t.chat_id AS "chatId", EXISTS (SELECT 1 FROM hidden) AS created FROM target t`,
      [messageId, userId],
    )) as Array<{ chatId: string; created: boolean }>;
    return rows[0] ?? null;
  }

  /** The newest message of the chat that `userId` has not hidden (index order on (chat_id, id)), or null. */
  async lastVisible(chatId: string, userId: string): Promise<MessageEntity | null> {
    const rows = (await this.manager.query(
      `SELECT ${columns('msg.')} FROM messages msg WHERE msg.chat_id = $1 AND NOT ${hiddenForSql('$2')} ORDER BY msg.id DESC LIMIT 1`,
      [chatId, userId],
    )) as MessageEntity[];
    return rows[0] ?? null;
  }

  /**
   * For the members of a chat who ever hid a message there (few): the id of the newest message
   * each can still see. Everyone else sees the chat's own last message.
   */
  async lastVisibleOfHiders(chatId: string): Promise<Array<{ userId: string; lastId: string | null }>> {
    return (await this.manager.query(
      `SELECT m.user_id AS "userId",
              (SELECT msg.id FROM messages msg WHERE msg.chat_id = m.chat_id AND NOT ${hiddenForSql('m.user_id')} ORDER BY msg.id DESC LIMIT 1) AS "lastId"
         FROM chat_members m WHERE m.chat_id = $1 AND m.hides_messages`,
      [chatId],
    )) as Array<{ userId: string; lastId: string | null }>;
  }

  /** The chat's members who have not hidden the message: who hears of its edits and reactions. */
  async audienceOf(chatId: string, messageId: string): Promise<string[]> {
    const rows = (await this.manager.query(
      `SELECT m.user_id AS "userId" FROM chat_members m
        WHERE m.chat_id = $1 AND NOT (m.hides_messages AND EXISTS (SELECT 1 FROM message_hides h WHERE h.message_id = $2 AND h.user_id = m.user_id))`,
      [chatId, messageId],
    )) as Array<{ userId: string }>;
    return rows.map((r) => r.userId);
  }

  /**
   * What forwarding a message needs to know, for `userId`: the original, the type of its chat,
   * its sender's display name parts, and whether `userId` can see it (a visible member of its
   * chat who has not hidden it). Null when the message does not exist.
   */
  async forwardSource(messageId: string, userId: string): Promise<ForwardSource | null> {
    const rows = (await this.manager.query(
      `SELECT ${columns('msg.')}, c.type AS "chatType",
              (EXISTS (SELECT 1 FROM chat_members m WHERE m.chat_id = msg.chat_id AND m.user_id = $2 AND m.visible) AND NOT ${hiddenForSql('$2')}) AS readable,
              u.nickname AS "senderNickname", u.first_name AS "senderFirstName", u.last_name AS "senderLastName"
         FROM messages msg JOIN chats c ON c.id = msg.chat_id LEFT JOIN users u ON u.id = msg.sender_id
        WHERE msg.id = $1`,
      [messageId, userId],
    )) as ForwardSource[];
    return rows[0] ?? null;
  }

  async senders(userIds: string[]): Promise<SenderRow[]> {
    if (!userIds.length) return [];
    return (await this.manager.query(
      `SELECT id, nickname, first_name AS "firstName", last_name AS "lastName", avatar FROM users WHERE id = ANY($1::uuid[])`,
      [userIds],
    )) as SenderRow[];
  }

  async reactionsOf(messageIds: string[]): Promise<Array<ReactionEntity & { nickname: string }>> {
    if (!messageIds.length) return [];
    return (await this.manager.query(
      `SELECT r.id, r.message_id AS "messageId", r.user_id AS "userId", r.emoji, r.created_at AS "createdAt", u.nickname
         FROM reactions r JOIN users u ON u.id = r.user_id WHERE r.message_id = ANY($1::uuid[]) ORDER BY r.created_at, r.id`,
      [messageIds],
    )) as Array<ReactionEntity & { nickname: string }>;
  }

  async listensOf(messageIds: string[]): Promise<Array<{ messageId: string; userId: string }>> {
    if (!messageIds.length) return [];
    return (await this.manager.query(`SELECT message_id AS "messageId", user_id AS "userId" FROM message_listens WHERE message_id = ANY($1::uuid[])`, [
      messageIds,
    ])) as Array<{ messageId: string; userId: string }>;
  }

  /**
   * Every member's read watermark in one chat as `viewerId` may see it, with each member's
   * visibility and the chat's type: the viewer's own row doubles as the membership check of a
   * history read.
   */
  async chatWatermarks(chatId: string, viewerId: string): Promise<Array<WatermarkRow & { visible: boolean; chatType: ChatType }>> {
    return preparedQuery(this.manager, 'messages.chat-watermarks', CHAT_WATERMARKS_SQL, [chatId, viewerId]);
  }

  /** The read watermarks of these chats' members, with what decides which of `viewerIds` see each member's receipts. */
  async watermarks(chatIds: string[], viewerIds: string[]): Promise<WatermarkRow[]> {
    if (!chatIds.length) return [];
    return (await this.manager.query(
      `SELECT m.chat_id AS "chatId", m.user_id AS "userId", m.last_read_seq::float8 AS "lastReadSeq", m.last_read_at AS "lastReadAt",
              ${receiptFactsSql('m.user_id', '$2::uuid[]')}
         FROM chat_members m WHERE m.chat_id = ANY($1::uuid[])`,
      [chatIds, viewerIds],
    )) as WatermarkRow[];
  }

  /** What decides which of `viewerIds` may hear that `readerId` read something. */
  async receiptFacts(readerId: string, viewerIds: string[]): Promise<ReceiptFacts> {
    const [row] = (await this.manager.query(`SELECT $1::uuid AS "userId", ${receiptFactsSql('$1::uuid', '$2::uuid[]')}`, [readerId, viewerIds])) as ReceiptFacts[];
    return row;
  }

  /** Moves the reader's watermark forward to `seq`; resolves the read time, or null when it was already there. */
  async markRead(chatId: string, userId: string, seq: number): Promise<Date | null> {
    const rows = returned<{ readAt: Date }>(
      await this.manager.query(
        `UPDATE chat_members SET last_read_seq = $3, last_read_at = now()
          WHERE chat_id = $1 AND user_id = $2 AND last_read_seq < $3 RETURNING last_read_at AS "readAt"`,
        [chatId, userId, seq],
      ),
    );
    return rows[0]?.readAt ?? null;
  }

  async updateContent(id: string, changes: { text: string | null; ciphertext: string | null; signalType: number | null }): Promise<MessageEntity> {
    const rows = returned<MessageEntity>(
      await this.manager.query(
        `UPDATE messages SET text = $2, ciphertext = $3, signal_type = $4, is_edited = true, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
        [id, changes.text, changes.ciphertext, changes.signalType],
      ),
    );
    return rows[0];
  }

  /**
   * Deletes a message, records its sequence number as deleted (so it leaves the unread counts of
   * members who had not read it) and, when it was the chat's last, points the chat at the one before.
   */
  async delete(tx: EntityManager, message: MessageEntity): Promise<string | null> {
    await tx.query(
      `WITH gone AS (DELETE FROM messages WHERE id = $1 RETURNING chat_id, seq)
       INSERT INTO deleted_message_seqs (chat_id, seq) SELECT chat_id, seq FROM gone ON CONFLICT DO NOTHING`,
      [message.id],
    );
    // Numbers every member has read past no longer count for anyone: pruned here, where deletions happen.
    await tx.query(
      `DELETE FROM deleted_message_seqs WHERE chat_id = $1 AND seq <= (SELECT min(last_read_seq) FROM chat_members WHERE chat_id = $1)`,
      [message.chatId],
    );
    const rows = returned<{ lastMessageId: string | null }>(
      await tx.query(
        `UPDATE chats SET last_message_id = (SELECT id FROM messages WHERE chat_id = $1 ORDER BY id DESC LIMIT 1)
          WHERE id = $1 RETURNING last_message_id AS "lastMessageId"`,
        [message.chatId],
      ),
    );
    return rows[0]?.lastMessageId ?? null;
  }

  /** Adds a reaction once; resolves it, and whether it is new. */
  async addReaction(messageId: string, userId: string, emoji: string): Promise<{ reaction: ReactionEntity; created: boolean }> {
    const inserted = (await this.manager.query(
      `INSERT INTO reactions (id, message_id, user_id, emoji) VALUES ($1, $2, $3, $4)
       ON CONFLICT (message_id, user_id, emoji) DO NOTHING
       RETURNING id, message_id AS "messageId", user_id AS "userId", emoji, created_at AS "createdAt"`,
      [newId(), messageId, userId, emoji],
    )) as ReactionEntity[];
    if (inserted.length) return { reaction: inserted[0], created: true };
    const [existing] = (await this.manager.query(
      `SELECT id, message_id AS "messageId", user_id AS "userId", emoji, created_at AS "createdAt" FROM reactions WHERE message_id = $1 AND user_id = $2 AND emoji = $3`,
      [messageId, userId, emoji],
    )) as ReactionEntity[];
    return { reaction: existing, created: false };
  }

  async removeReaction(messageId: string, userId: string, emoji: string): Promise<boolean> {
    const rows = returned(await this.manager.query(`DELETE FROM reactions WHERE message_id = $1 AND user_id = $2 AND emoji = $3 RETURNING id`, [messageId, userId, emoji]));
    return rows.length > 0;
  }

  async addListen(messageId: string, userId: string): Promise<boolean> {
    const rows = (await this.manager.query(
      `INSERT INTO message_listens (message_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING message_id`,
      [messageId, userId],
    )) as unknown[];
    return rows.length > 0;
  }
}
