import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { arrayLiteral } from '../core/database/array-literal';
import { idBoundAt, MAX_UUID, MIN_UUID, newId, uuidV7RandomBits, uuidV7RandomBitsList } from '../core/database/ids';
import { preparedQuery } from '../core/database/prepared';
import { isForeignKeyViolation, returned } from '../core/database/query-results';
import { ChatType } from '../chats/entities/chat.entity';
import { AvatarOwner, avatarRuleSql } from '../users/avatar-privacy';
import { ReceiptFacts, receiptFactsOf, receiptFactsSql } from '../users/read-receipts';
import { blockedWithSql } from '../users/users.repository';
import { MessageEntity, MessageType } from './entities/message.entity';
import { ReactionEntity } from './entities/reaction.entity';
import { decodeMessageSet, MessageContent, MessageSet, MessageSetColumns, messageSetSql, SET_COLUMNS } from './message-set';

/** The message columns as MessageEntity fields; `t` qualifies them with a table alias. */
const columns = (t = '') => `${t}id, ${t}chat_id AS "chatId", ${t}sender_id AS "senderId", ${t}seq::float8 AS seq, ${t}type, ${t}text,
  ${t}media_url AS "mediaUrl", ${t}media_name AS "mediaName", ${t}media_size::float8 AS "mediaSize", ${t}media_group_id AS "mediaGroupId",
  ${t}reply_to_id AS "replyToId", ${t}forwarded_from_id AS "forwardedFromId", ${t}forward_sender_name AS "forwardSenderName",
  ${t}ciphertext, ${t}signal_type AS "signalType", ${t}client_message_id AS "clientMessageId", ${t}is_edited AS "isEdited",
  ${t}created_at AS "createdAt", ${t}updated_at AS "updatedAt"`;
const COLUMNS = columns();

/**
 * The read watermarks of the members of chat $1 with each member's visibility, the chat's type
 * and the facts of who among `viewers` (an SQL uuid[]) may see each member's read receipts.
 */
const chatWatermarksSql = (viewers: string): string => `SELECT m.chat_id AS "chatId", m.user_id AS "userId",
       m.last_read_seq::float8 AS "lastReadSeq", m.last_read_at AS "lastReadAt", m.visible, c.type AS "chatType",
       ${receiptFactsSql('m.user_id', viewers)}
  FROM chat_members m JOIN chats c ON c.id = m.chat_id WHERE m.chat_id = $1`;
const CHAT_WATERMARKS_SQL = chatWatermarksSql('ARRAY[$2::uuid]');

/** The key of one user's hide of one message (MessagesRepository.hidesOf). */
export const hideKey = (messageId: string, userId: string): string => `${messageId}:${userId}`;

/**
 * A message row `msg` is hidden for `viewer` (an SQL uuid): a probe of message_hides' primary
 * key. `gate` is an SQL boolean that is false when the viewer never hid anything in the chat, so
 * the probe is skipped for them (see MessageHides1764000007200).
 */
export const hiddenForSql = (viewer: string, gate = 'true'): string =>
  `(${gate} AND EXISTS (SELECT 1 FROM message_hides h WHERE h.user_id = ${viewer} AND h.chat_id = msg.chat_id AND h.seq = msg.seq))`;

/** Whether caller $2 ever hid a message in chat $1: read once per statement (an InitPlan). */
/** SQL: message `msg` is a text holding a web address; the predicate of messages_links_idx (migration MessageLinks), word for word. */
const LINK_MESSAGE_SQL = `msg.type = 'TEXT' AND msg.ciphertext IS NULL AND msg.text ~* 'https?://'`;
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

/** Caller $2 is a visible member of chat $1 (an InitPlan: read once per statement). */
const VISIBLE_CALLER = `EXISTS (SELECT 1 FROM chat_members v WHERE v.chat_id = $1 AND v.user_id = $2 AND v.visible)`;

/** A member's read watermark as a page statement sends it (PAGE_WATERMARKS_SQL), with the facts towards the one caller. */
type PageWatermarkTuple = [userId: string, lastReadSeq: number, lastReadAt: string | null, receiptLevel: unknown, viewerIsContact: boolean, blocked: boolean];

/**
 * The read watermarks of the members of chat $1, each with what decides whether caller $2 sees
 * that member's read receipts (read-receipts.ts): a JSON array of PageWatermarkTuple.
 */
const PAGE_WATERMARKS_SQL = `SELECT coalesce(json_agg(json_build_array(m.user_id, m.last_read_seq, m.last_read_at,
    (SELECT rs.settings -> 'showReadReceipts' FROM user_settings rs WHERE rs.user_id = m.user_id),
    EXISTS (SELECT 1 FROM contacts rc WHERE rc.owner_id = m.user_id AND rc.contact_id = $2),
    m.user_id IN (${blockedWithSql('$2')}))), '[]')
  FROM chat_members m WHERE m.chat_id = $1`;

/**
 * A page of chat $1 for caller $2 in one round trip: whether the caller is a visible member, the
 * chat's read watermarks towards them, and the page's MessageSet. `page` selects the page's rows
 * (SET_COLUMNS over `msg`) and must be gated by VISIBLE_CALLER, so nothing is read for anyone
 * else; `ctes` are CTEs it reads from.
 */
const chatPageSql = (page: string, ctes = ''): string => `WITH ${ctes} page AS MATERIALIZED (${page})
  SELECT ${VISIBLE_CALLER} AS member, (${PAGE_WATERMARKS_SQL}) AS watermarks, ${messageSetSql('page', '$2::uuid')}`;

/**
 * A history page (chatPageSql): keyset on messages_chat_id_idx (chat_id, id DESC) before cursor
 * $3, stopping after $4 rows, leaving out what the caller hid. `filtered` adds the v2.2 filters
 * ($5…$10).
 */
const historyPageSql = (filtered: boolean): string =>
  chatPageSql(`SELECT ${SET_COLUMNS} FROM messages msg
     WHERE ${VISIBLE_CALLER} AND msg.chat_id = $1 AND msg.id < coalesce($3::uuid, '${MAX_UUID}') AND NOT ${hiddenForSql('$2', CALLER_HIDES)}
       ${filtered ? `AND ${historyFiltersSql(5)}` : ''}
     ORDER BY msg.id DESC LIMIT $4`);
const HISTORY_PAGE_SQL = historyPageSql(false);
const FILTERED_HISTORY_PAGE_SQL = historyPageSql(true);

/**
 * The window of history at id bound $3 (a date) for caller $2 (chatPageSql): the $4 oldest
 * messages from the bound on, filled up with the newest before it, plus one older row that only
 * tells whether older history exists. Two ranges of messages_chat_id_idx in one statement.
 */
const AROUND_PAGE_SQL = chatPageSql(
  `SELECT ${SET_COLUMNS} FROM messages msg WHERE ${VISIBLE_CALLER} AND msg.id IN (SELECT id FROM picked)`,
  `later AS (
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
  ),`,
);

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
/** The database clock in ms since the epoch. */
const CLOCK_MS = `floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint`;
/** The ms of an id (its first 48 bits); 0 for none. */
const idMs = (id: string): string => `coalesce(('x' || lpad(substr(replace(${id}::text, '-', ''), 1, 12), 16, '0'))::bit(64)::bigint, 0)`;
/** A UUIDv7 from its ms, a sequence number as its 12-bit counter, and 16 hex digits of variant and random bits. */
const uuidSql = (ms: string, seq: string, rand: string): string => `(lpad(to_hex(${ms}), 12, '0') || '7' || lpad(to_hex((${seq}) % 4096), 3, '0') || ${rand})::uuid`;

/**
 * The id of the last of `count` new messages of a chat, in an UPDATE of its (locked) row, where
 * `chats.message_seq` and `chats.last_message_id` are still the old values. A message's id is a
 * UUIDv7 made under the chat's row lock from the database clock (48-bit ms), its sequence number
 * as the 12-bit counter (RFC 9562 method 1) and 64 random bits from the caller, so ids sort as
 * sequence numbers do: a history page (keyset on id) agrees with unread counts and read receipts
 * (sequence arithmetic) even when sends race, and when several messages of a chat are made in one
 * millisecond (a batch). Where the counter wraps (every 4096 messages) the ms moves on by one, and
 * the ms never goes below the chat's last id (an id more than a second ahead of the clock was not
 * made by this rule and is not followed).
 */
const nextLastIdSql = (count: string, rand: string): string => {
  const old = 'chats.message_seq';
  const lastMs = idMs('chats.last_message_id');
  const firstMs = `greatest(${CLOCK_MS}, CASE WHEN ${lastMs} <= ${CLOCK_MS} + 1000 THEN ${lastMs} ELSE 0 END + ((${old} + 1) / 4096 - ${old} / 4096))`;
  return uuidSql(`${firstMs} + ((${old} + ${count}) / 4096 - (${old} + 1) / 4096)`, `${old} + ${count}`, rand);
};

/**
 * SQL: the time of a batch's `k`th message of a chat (1-based): the transaction's time plus k − 1
 * microseconds, so that the messages of one chat stored together have distinct times in their
 * sequence order. Clients sort by createdAt (the web client merges a page by id, then sorts):
 * equal times would leave a batch's order to how the pages were merged. The chat's last activity
 * is its last message's time, as a delete for everyone recomputes it.
 */
const batchTimeSql = (k: string): string => `now() + (${k} - 1) * interval '1 microsecond'`;

/**
 * Group commit of message:send (SendBatcher): many messages, into any chats, as one statement
 * and so one transaction and one WAL flush. Parameters are parallel arrays, one element per
 * message ($15 the chat kind its draft was made for, $16 its id's random bits). A message is
 * stored only when its sender is a visible member, no block stands between the two members of a
 * pair chat, its clientMessageId is new, its replied-to message is in the chat and the chat is
 * SECRET exactly when its draft says so; the others are left out (no row) and do not disturb the
 * rest. (An upload deleted since the media check fails the statement on its foreign key: rare,
 * and SendBatcher then writes each message alone, so that one alone answers MEDIA_NOT_FOUND.)
 *
 * The chats' rows are locked in id order (so two batches, on any instance, never wait for each
 * other in a cycle). The checks read the snapshot the statement started with, and a removal or
 * an addition (ChatsRepository.removeMember, addMembers) may commit while the statement waits for
 * a chat's lock: a chat whose member_epoch moved since is left out whole (its update re-reads the
 * row it locked, READ COMMITTED), so that a removed member neither sends after their removal nor
 * is sent the messages, and an added one is (its senders check again, MessagesService.sendChecked). Each chat's sequence moves on once by
 * the number of its messages, numbered
 * in the order given, with ids made as nextLastIdSql says. Each sender's read watermark moves to
 * their last message and their draft of the chat is cleared; members who did not see the chat
 * yet get it revealed. Resolves one row per stored message: its input position `n`, id and seq
 * (the rest of the row is the input, and its time: batchTimeSql); the first row of each
 * chat also carries the chat's member ids and whom it was revealed to.
 *
 * Every step is linear in the batch whatever the planner estimates (it cannot know how many rows
 * pass the checks, and guesses one): the per-message lookups are LATERAL probes of an index
 * (an EXISTS would be hashed over a whole seq scan of messages once the batch looks big), and
 * each chat's new numbers reach its messages through one JSON object rather than a join (which
 * would be a nested loop over every pair of messages and chats).
 */
const INSERT_BATCH_SQL = `WITH input AS (
     SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[], $8::text[],
                          $9::uuid[], $10::uuid[], $11::text[], $12::text[], $13::int[], $14::text[], $15::boolean[], $16::text[])
       WITH ORDINALITY AS i(chat_id, sender_id, type, text, media_url, media_name, media_size, media_group_id, reply_to_id,
                            forwarded_from_id, forward_sender_name, ciphertext, signal_type, client_message_id, secret, rand, n)
   ), accepted AS (
     SELECT i.*, m.draft_text IS NOT NULL AS had_draft, c.member_epoch AS epoch,
            row_number() OVER (PARTITION BY i.chat_id ORDER BY i.n) AS k,
            count(*) OVER (PARTITION BY i.chat_id) AS cnt,
            row_number() OVER (PARTITION BY i.chat_id, i.sender_id ORDER BY i.n DESC) = 1 AS last_of_sender
       FROM input i
       JOIN chat_members m ON m.chat_id = i.chat_id AND m.user_id = i.sender_id AND m.visible
       JOIN chats c ON c.id = i.chat_id
       LEFT JOIN LATERAL (
         SELECT true AS taken FROM messages d WHERE d.sender_id = i.sender_id AND d.client_message_id = i.client_message_id LIMIT 1) dup ON true
       LEFT JOIN LATERAL (
         SELECT true AS found FROM messages rp WHERE rp.id = i.reply_to_id AND rp.chat_id = i.chat_id LIMIT 1) reply ON true
      WHERE (c.type = 'SECRET') = i.secret
        AND NOT (c.type <> 'GROUP' AND EXISTS (
              SELECT 1 FROM chat_members o WHERE o.chat_id = c.id AND o.user_id IN (${blockedWithSql('i.sender_id')})))
        AND dup.taken IS NULL
        AND (i.reply_to_id IS NULL OR reply.found)
   ), locked AS MATERIALIZED (
     SELECT c.id FROM chats c WHERE c.id IN (SELECT chat_id FROM accepted) ORDER BY c.id FOR UPDATE
   ), bumped AS (
     UPDATE chats SET message_seq = chats.message_seq + a.cnt, last_message_id = ${nextLastIdSql('a.cnt', 'a.rand')},
                      last_activity_at = ${batchTimeSql('a.cnt')}, updated_at = now()
       FROM (SELECT chat_id, max(cnt) AS cnt, (array_agg(rand ORDER BY n DESC))[1] AS rand, max(epoch) AS epoch FROM accepted GROUP BY chat_id) a
      WHERE chats.id = a.chat_id AND chats.id IN (SELECT id FROM locked) AND chats.member_epoch = a.epoch
      RETURNING chats.id AS chat_id, chats.message_seq AS last_seq, chats.last_message_id AS last_id
   ), chat_numbers AS (
     -- chat id -> [its new last seq, the ms of its new last id]
     SELECT jsonb_object_agg(chat_id, jsonb_build_array(last_seq, ${idMs('last_id')})) AS of FROM bumped
   ), placed AS (
     SELECT a.*, x.last_seq - a.cnt + a.k AS seq, ${batchTimeSql('a.k')} AS created_at,
            ${uuidSql('x.last_ms - (x.last_seq / 4096 - (x.last_seq - a.cnt + a.k) / 4096)', 'x.last_seq - a.cnt + a.k', 'a.rand')} AS id
       FROM accepted a, chat_numbers,
            LATERAL (SELECT (chat_numbers.of -> a.chat_id::text ->> 0)::bigint AS last_seq, (chat_numbers.of -> a.chat_id::text ->> 1)::bigint AS last_ms) x
      WHERE chat_numbers.of ? a.chat_id::text
   ), inserted AS (
     INSERT INTO messages (id, chat_id, sender_id, seq, type, text, media_url, media_name, media_size, media_group_id,
                           reply_to_id, forwarded_from_id, forward_sender_name, ciphertext, signal_type, client_message_id, created_at, updated_at)
     SELECT id, chat_id, sender_id, seq, type, text, media_url, media_name, media_size, media_group_id,
            reply_to_id, forwarded_from_id, forward_sender_name, ciphertext, signal_type, client_message_id, created_at, created_at FROM placed
   ), sender_read AS (
     UPDATE chat_members m SET last_read_seq = greatest(m.last_read_seq, s.seq), last_read_at = now(),
                               draft_text = NULL, draft_reply_to_id = NULL, draft_updated_at = NULL
       FROM (SELECT chat_id, sender_id, max(seq) AS seq FROM placed GROUP BY chat_id, sender_id) s
      WHERE m.chat_id = s.chat_id AND m.user_id = s.sender_id
   ), revealed AS (
     UPDATE chat_members m SET visible = true WHERE m.chat_id IN (SELECT chat_id FROM bumped) AND NOT m.visible
     RETURNING m.chat_id, m.user_id
   )
   SELECT p.n::int AS n, p.id, p.seq::float8 AS seq, p.created_at AS "createdAt",
          CASE WHEN p.k = 1 THEN (SELECT coalesce(array_agg(v.user_id), '{}') FROM revealed v WHERE v.chat_id = p.chat_id) END AS "revealedTo",
          CASE WHEN p.k = 1 THEN (SELECT string_agg(o.user_id::text, ',') FROM chat_members o WHERE o.chat_id = p.chat_id) END AS "memberIds",
          (p.had_draft AND p.last_of_sender) AS "draftCleared",
          u.nickname AS "senderNickname", u.first_name AS "senderFirstName", u.last_name AS "senderLastName", u.avatar AS "senderAvatar",
          CASE WHEN u.avatar IS NOT NULL THEN (SELECT s.settings -> 'showAvatar' FROM user_settings s WHERE s.user_id = p.sender_id) END AS "senderAvatarLevel"
     FROM placed p LEFT JOIN users u ON u.id = p.sender_id`;

export interface NewMessage extends MessageContent {
  chatId: string;
  senderId: string;
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

/**
 * The instants a timestamp can hold, years 1 to 9999 in UTC (a bound outside them, which a
 * client may send, is the same bound as the nearest end: no message is older or newer).
 */
const FIRST_INSTANT = Date.parse('0001-01-01T00:00:00.000Z');
const LAST_INSTANT = Date.parse('9999-12-31T23:59:59.999Z');
const instantAt = (ms: number): Date => new Date(Math.min(Math.max(ms, FIRST_INSTANT), LAST_INSTANT));

function filterParams(filters: HistoryFilters): unknown[] {
  return [
    filters.from ? idBoundAt(filters.from) : null,
    filters.from ? instantAt(filters.from.getTime()) : null,
    filters.to ? idBoundAt(new Date(filters.to.getTime() + ID_CLOCK_SLACK_MS)) : null,
    // Dates come with milliseconds; created_at has microseconds: `to` takes in its whole millisecond.
    filters.to ? instantAt(filters.to.getTime() + 1) : null,
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

/** A message's sender (or a reply preview's), with what decides who sees their avatar (avatar-privacy.ts). */
export interface SenderRow extends AvatarOwner {
  nickname: string;
  firstName: string | null;
  lastName: string | null;
}

export interface StoredMessage {
  message: MessageEntity;
  sender: SenderRow | null;
  memberIds: string[];
  revealedTo: string[];
  /** The sender had a draft in the chat: the send cleared it. */
  draftCleared: boolean;
}

/**
 * The stored row of a batch's message: the draft as given, with its id and seq and the insert's
 * defaults. Written out rather than `{...draft, id, …}`: V8 (Node 20) spends ~1 KB more on a
 * spread copy that is then extended, and every sent message makes one.
 */
function storedRow(draft: NewMessage, row: InsertedRow): MessageEntity {
  return {
    id: row.id,
    chatId: draft.chatId,
    senderId: draft.senderId,
    seq: row.seq,
    type: draft.type,
    text: draft.text,
    mediaUrl: draft.mediaUrl,
    mediaName: draft.mediaName,
    mediaSize: draft.mediaSize,
    mediaGroupId: draft.mediaGroupId,
    replyToId: draft.replyToId,
    forwardedFromId: draft.forwardedFromId,
    forwardSenderName: draft.forwardSenderName,
    ciphertext: draft.ciphertext,
    signalType: draft.signalType,
    clientMessageId: draft.clientMessageId,
    isEdited: false,
    createdAt: row.createdAt,
    updatedAt: row.createdAt,
  };
}

/** A row of INSERT_BATCH_SQL: a stored message's input position, id, seq and time, with what its publication needs. */
interface InsertedRow {
  n: number;
  id: string;
  seq: number;
  createdAt: Date;
  /** On the first row of each chat only. */
  revealedTo: string[] | null;
  memberIds: string | null;
  draftCleared: boolean;
  senderNickname: string | null;
  senderFirstName: string | null;
  senderLastName: string | null;
  senderAvatar: string | null;
  /** The sender's stored showAvatar, read only when they have an avatar. */
  senderAvatarLevel: unknown;
}

/** A message to store, with the chat kind its draft was made for. */
export interface BatchItem {
  draft: NewMessage;
  secret: boolean;
}

/** A page of one chat's messages for its caller, with the chat's read watermarks towards them (chatPageSql). */
export interface ChatPage {
  set: MessageSet;
  watermarks: WatermarkRow[];
}

type ChatPageColumns = MessageSetColumns & { member: boolean; watermarks: PageWatermarkTuple[] };

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

/** A chatPageSql result, named; null when the caller is not a visible member. */
function decodeChatPage(chatId: string, callerId: string, result: ChatPageColumns): ChatPage | null {
  if (!result.member) return null;
  const watermarks = result.watermarks.map(([userId, lastReadSeq, lastReadAt, receiptLevel, viewerIsContact, blocked]): WatermarkRow => {
    const { contactOf, blockedWith } = receiptFactsOf({ id: userId, receiptLevel, viewerIsContact, blocked }, callerId);
    return { chatId, userId, lastReadSeq, lastReadAt, receiptLevel, contactOf, blockedWith };
  });
  return { set: decodeMessageSet(result, callerId), watermarks };
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
   * Stores messages in one statement (INSERT_BATCH_SQL): one round trip, one transaction. Resolves,
   * in the order given, each stored message with its sender's public fields (so a fresh message
   * needs no second query), the chat's member ids (for the fan-out), the users the chat was
   * revealed to (on the chat's first message of the batch) and whether the sender's draft went;
   * null for a message its checks left out (the caller learns why from sendContext). Throws when
   * the statement fails as a whole (a clientMessageId stored meanwhile by another statement, an
   * upload deleted between the check and the insert): SendBatcher then stores each alone. The
   * sender comes with their showAvatar (so a fresh message needs no second query unless that is
   * `contacts`).
   */
  async insertBatch(items: BatchItem[]): Promise<Array<StoredMessage | null>> {
    // Each column as one array literal (arrayLiteral: node-postgres's own conversion costs ~2 KB of garbage per message here).
    const column = (pick: (draft: NewMessage) => string | number | null) => arrayLiteral(items.map((item) => pick(item.draft)));
    const rows = await preparedQuery<InsertedRow[]>(this.manager, 'messages.insert-batch', INSERT_BATCH_SQL, [
      column((d) => d.chatId),
      column((d) => d.senderId),
      column((d) => d.type),
      column((d) => d.text),
      column((d) => d.mediaUrl),
      column((d) => d.mediaName),
      column((d) => d.mediaSize),
      column((d) => d.mediaGroupId),
      column((d) => d.replyToId),
      column((d) => d.forwardedFromId),
      column((d) => d.forwardSenderName),
      column((d) => d.ciphertext),
      column((d) => d.signalType),
      column((d) => d.clientMessageId),
      arrayLiteral(items.map((item) => item.secret)),
      arrayLiteral(uuidV7RandomBitsList(items.length)),
    ]);
    const membersOf = new Map<string, string[]>();
    for (const row of rows) if (row.memberIds !== null) membersOf.set(items[row.n - 1].draft.chatId, row.memberIds.split(','));
    const stored: Array<StoredMessage | null> = items.map(() => null);
    for (const row of rows) {
      const draft = items[row.n - 1].draft;
      const message = storedRow(draft, row);
      // The avatar rule without its contacts: the send path reads those only when the level is `contacts`.
      const avatarRule = row.senderAvatarLevel === null || row.senderAvatarLevel === undefined ? null : { level: row.senderAvatarLevel, contactOf: null };
      const sender =
        row.senderNickname === null
          ? null
          : { id: draft.senderId, nickname: row.senderNickname, firstName: row.senderFirstName, lastName: row.senderLastName, avatar: row.senderAvatar, avatarRule };
      stored[row.n - 1] = { message, sender, memberIds: membersOf.get(draft.chatId) ?? [], revealedTo: row.revealedTo ?? [], draftCleared: row.draftCleared };
    }
    return stored;
  }

  /** Merges the full-text index's pending entries into it (see SearchIndexUpkeep); resolves the pages emptied. */
  async mergePendingSearchEntries(): Promise<number> {
    const [row] = (await this.manager.query(`SELECT gin_clean_pending_list('messages_search_idx'::regclass) AS pages`)) as Array<{ pages: string }>;
    return Number(row.pages);
  }

  /**
   * Stores a SYSTEM message (a group event, wire-contract-v2.2 §1.4) inside the transaction of
   * the change it records: the chat's next sequence number and its last message, like any
   * message, but the sequence number also goes into deleted_message_seqs, the numbers unread
   * counts leave out, so an event never counts as unread.
   */
  async insertSystem(tx: EntityManager, chatId: string, senderId: string, text: string): Promise<MessageEntity> {
    const rows = (await tx.query(
      `WITH bumped AS (
         UPDATE chats SET message_seq = message_seq + 1, last_message_id = ${nextLastIdSql('1', '$1::text')}, last_activity_at = now(), updated_at = now()
          WHERE chats.id = $2 RETURNING chats.message_seq, chats.last_message_id AS id
       ), uncounted AS (
         INSERT INTO deleted_message_seqs (chat_id, seq) SELECT $2, message_seq FROM bumped
       )
       INSERT INTO messages (id, chat_id, sender_id, seq, type, text)
       SELECT bumped.id, $2, $3, bumped.message_seq, 'SYSTEM', $4 FROM bumped
       RETURNING ${COLUMNS}`,
      [uuidV7RandomBits(), chatId, senderId, text],
    )) as unknown;
    return returned<MessageEntity>(rows)[0];
  }

  async findById(id: string, tx: EntityManager = this.manager): Promise<MessageEntity | null> {
    const rows = (await tx.query(`SELECT ${COLUMNS} FROM messages WHERE id = $1`, [id])) as MessageEntity[];
    return rows[0] ?? null;
  }

  async findByIds(ids: string[]): Promise<MessageEntity[]> {
    if (!ids.length) return [];
    return (await this.manager.query(`SELECT ${COLUMNS} FROM messages WHERE id = ANY($1::uuid[])`, [ids])) as MessageEntity[];
  }

  /** Who hid which of the messages, as `messageId:userId` keys (a few rows of message_hides_message_key each, usually none). */
  async hidesOf(messageIds: string[]): Promise<Set<string>> {
    if (!messageIds.length) return new Set();
    const rows = (await this.manager.query(`SELECT message_id AS "messageId", user_id AS "userId" FROM message_hides WHERE message_id = ANY($1::uuid[])`, [messageIds])) as Array<{
      messageId: string;
      userId: string;
    }>;
    return new Set(rows.map((row) => hideKey(row.messageId, row.userId)));
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
   * A history page (newest first, before the cursor) with the read watermarks of the chat's
   * members: one statement. Null when the caller is not a visible member.
   */
  async historyPage(chatId: string, userId: string, page: { before: string | null; limit: number }, filters: HistoryFilters | null = null): Promise<ChatPage | null> {
    const params = [chatId, userId, page.before, page.limit];
    // The plain page stays a prepared statement (equality on keys, one generic plan); a
    // filtered one is planned for its values, so a type filter may use messages_chat_type_idx.
    const [result] = filters
      ? ((await this.manager.query(FILTERED_HISTORY_PAGE_SQL, [...params, ...filterParams(filters)])) as ChatPageColumns[])
      : await preparedQuery<ChatPageColumns[]>(this.manager, 'messages.history-page', HISTORY_PAGE_SQL, params);
    return decodeChatPage(chatId, userId, result);
  }

  /** The window of history at a date (see AROUND_PAGE_SQL): up to limit + 1 messages, newest first. Null when the caller is not a visible member. */
  async aroundPage(chatId: string, userId: string, at: Date, limit: number): Promise<ChatPage | null> {
    const [result] = (await this.manager.query(AROUND_PAGE_SQL, [chatId, userId, idBoundAt(at), limit])) as ChatPageColumns[];
    return decodeChatPage(chatId, userId, result);
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
  async searchInChat(chatId: string, userId: string, page: { before: string | null; limit: number; query: string }, filters: HistoryFilters | null): Promise<MessageSet> {
    const [result] = (await this.manager.query(
      `WITH page AS MATERIALIZED (
         SELECT ${SET_COLUMNS} FROM messages msg
          WHERE msg.chat_id = $1 AND ($3::uuid IS NULL OR msg.id < $3::uuid) AND msg.search @@ $4::tsquery AND msg.type <> 'SYSTEM'
            AND NOT ${hiddenForSql('$2')} AND ${historyFiltersSql(6)}
          ORDER BY msg.id DESC LIMIT $5)
       SELECT ${messageSetSql('page', '$2::uuid')}`,
      [chatId, userId, page.before, page.query, page.limit, ...filterParams(filters ?? {})],
    )) as MessageSetColumns[];
    return decodeMessageSet(result, userId);
  }

  /**
   * Search as you type (a prefixQuery) across the caller's visible, non-secret chats (the sidebar
   * search), newest first, leaving out what the caller hid; planned for its query: a common word
   * walks messages newest first, a rare one reads the GIN index. (Searched chat by chat instead,
   * the planner would have to cost every chat as an average one and read the GIN index per chat.)
   */
  async search(userId: string, query: string, page: { before: string | null; limit: number }): Promise<MessageSet> {
    const [result] = (await this.manager.query(
      `WITH page AS MATERIALIZED (
         SELECT ${SET_COLUMNS} FROM messages msg
           JOIN chat_members m ON m.chat_id = msg.chat_id AND m.user_id = $1 AND m.visible
           JOIN chats c ON c.id = msg.chat_id AND c.type <> 'SECRET'
          WHERE msg.search @@ $2::tsquery AND msg.type <> 'SYSTEM' AND ($3::uuid IS NULL OR msg.id < $3::uuid) AND NOT ${hiddenForSql('$1', 'm.hides_messages')}
          ORDER BY msg.id DESC LIMIT $4)
       SELECT ${messageSetSql('page', '$1::uuid')}`,
      [userId, query, page.before, page.limit],
    )) as MessageSetColumns[];
    return decodeMessageSet(result, userId);
  }

  /** A page of the chat's media, newest first; messages with ciphertext are left out (§9: nothing a gallery could show). */
  /** The chat's text messages holding a web address, newest first (the Links tab), as sharedMedia pages media. */
  async sharedLinks(chatId: string, userId: string, page: { before: string | null; limit: number }): Promise<MessageEntity[]> {
    return (await this.manager.query(
      `SELECT ${columns('msg.')} FROM messages msg
        WHERE msg.chat_id = $1 AND ${LINK_MESSAGE_SQL} AND ($3::uuid IS NULL OR msg.id < $3::uuid) AND NOT ${hiddenForSql('$2', CALLER_HIDES)}
        ORDER BY msg.id DESC LIMIT $4`,
      [chatId, userId, page.before, page.limit],
    )) as MessageEntity[];
  }

  async sharedMedia(chatId: string, userId: string, types: MessageType[], page: { before: string | null; limit: number }): Promise<MessageEntity[]> {
    return (await this.manager.query(
      `SELECT ${columns('msg.')} FROM messages msg
        WHERE msg.chat_id = $1 AND msg.type = ANY($3::text[]) AND msg.ciphertext IS NULL AND ($4::uuid IS NULL OR msg.id < $4::uuid) AND NOT ${hiddenForSql('$2', CALLER_HIDES)}
        ORDER BY msg.id DESC LIMIT $5`,
      [chatId, userId, types, page.before, page.limit],
    )) as MessageEntity[];
  }

  /**
   * Hides a message for one member of its chat, in one statement: the hide row (once) and the
   * member's hides_messages flag. Resolves the message's chat and whether the hide is new; null
   * when the message does not exist or the user is not a visible member of its chat, or was
   * deleted while this waited on its row (the hide's foreign key).
   */
  async hide(messageId: string, userId: string): Promise<{ chatId: string; created: boolean; system: boolean } | null> {
    try {
      return await this.hideOnce(messageId, userId);
    } catch (error) {
      if (isForeignKeyViolation(error, 'message_hides_message_id_fkey')) return null;
      throw error;
    }
  }

  private async hideOnce(messageId: string, userId: string): Promise<{ chatId: string; created: boolean; system: boolean } | null> {
    const rows = (await this.manager.query(
      `WITH target AS (
         SELECT msg.id, msg.chat_id, msg.seq, msg.type = 'SYSTEM' AS system FROM messages msg
           JOIN chat_members m ON m.chat_id = msg.chat_id AND m.user_id = $2 AND m.visible
          WHERE msg.id = $1
       ), hidden AS (
         INSERT INTO message_hides (user_id, chat_id, seq, message_id) SELECT $2, chat_id, seq, id FROM target WHERE NOT system
         ON CONFLICT DO NOTHING RETURNING message_id
       ), flagged AS (
         UPDATE chat_members SET hides_messages = true
          WHERE chat_id = (SELECT chat_id FROM target WHERE NOT system) AND user_id = $2 AND NOT hides_messages
       )
       SELECT t.chat_id AS "chatId", EXISTS (SELECT 1 FROM hidden) AS created, t.system FROM target t`,
      [messageId, userId],
    )) as Array<{ chatId: string; created: boolean; system: boolean }>;
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

  /** Senders with their avatar rules towards `viewerIds` (who among them is in each sender's contacts, when that matters). */
  async senders(userIds: string[], viewerIds: string[]): Promise<SenderRow[]> {
    if (!userIds.length) return [];
    return (await this.manager.query(
      `SELECT u.id, u.nickname, u.first_name AS "firstName", u.last_name AS "lastName", u.avatar, ${avatarRuleSql('u', '$2::uuid[]')} AS "avatarRule"
         FROM users u WHERE u.id = ANY($1::uuid[])`,
      [userIds, viewerIds],
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

  /** The edited message; null when it was deleted meanwhile. */
  async updateContent(
    id: string,
    changes: { text: string | null; ciphertext: string | null; signalType: number | null },
    tx: EntityManager = this.manager,
  ): Promise<MessageEntity | null> {
    const rows = returned<MessageEntity>(
      await tx.query(
        `UPDATE messages SET text = $2, ciphertext = $3, signal_type = $4, is_edited = true, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
        [id, changes.text, changes.ciphertext, changes.signalType],
      ),
    );
    return rows[0] ?? null;
  }

  /**
   * Deletes a message, records its sequence number as deleted (so it leaves the unread counts of
   * members who had not read it) and points the chat at its newest message, whose time is the
   * chat's activity again (the chat list's order). The caller holds the
   * chat's row lock (taken before this): the newest message is read after every other writer of
   * the chat has committed. Null when the message was gone already.
   */
  async delete(tx: EntityManager, message: MessageEntity): Promise<{ lastMessageId: string | null } | null> {
    const [gone] = (await tx.query(
      `WITH gone AS (DELETE FROM messages WHERE id = $1 RETURNING chat_id, seq),
       recorded AS (INSERT INTO deleted_message_seqs (chat_id, seq) SELECT chat_id, seq FROM gone ON CONFLICT DO NOTHING)
       SELECT count(*)::int AS n FROM gone`,
      [message.id],
    )) as Array<{ n: number }>;
    if (!gone?.n) return null;
    // Numbers every member has read past no longer count for anyone: pruned here, where deletions happen.
    await tx.query(
      `DELETE FROM deleted_message_seqs WHERE chat_id = $1 AND seq <= (SELECT min(last_read_seq) FROM chat_members WHERE chat_id = $1)`,
      [message.chatId],
    );
    const rows = returned<{ lastMessageId: string | null }>(
      await tx.query(
        `WITH last AS (SELECT id, created_at FROM messages WHERE chat_id = $1 ORDER BY id DESC LIMIT 1)
         UPDATE chats c SET last_message_id = (SELECT id FROM last), last_activity_at = COALESCE((SELECT created_at FROM last), c.created_at)
          WHERE c.id = $1 RETURNING last_message_id AS "lastMessageId"`,
        [message.chatId],
      ),
    );
    return { lastMessageId: rows[0]?.lastMessageId ?? null };
  }

  /** Adds a reaction once; resolves it, and whether it is new. */
  /**
   * The user's reaction, added or (a repeat) as it was: one statement, so a removal between an
   * insert that found it and a read of it cannot leave nothing to answer with (the conflict
   * branch's no-op update returns the row; `xmax = 0` only on a fresh insert). Null when the
   * message was deleted meanwhile (its foreign key).
   */
  async addReaction(messageId: string, userId: string, emoji: string, tx: EntityManager = this.manager): Promise<{ reaction: ReactionEntity; created: boolean } | null> {
    try {
      const [row] = (await tx.query(
        `INSERT INTO reactions (id, message_id, user_id, emoji) VALUES ($1, $2, $3, $4)
         ON CONFLICT (message_id, user_id, emoji) DO UPDATE SET emoji = EXCLUDED.emoji
         RETURNING id, message_id AS "messageId", user_id AS "userId", emoji, created_at AS "createdAt", xmax = 0 AS created`,
        [newId(), messageId, userId, emoji],
      )) as Array<ReactionEntity & { created: boolean }>;
      const { created, ...reaction } = row;
      return { reaction, created };
    } catch (error) {
      if (isForeignKeyViolation(error, 'reactions_message_id_fkey')) return null;
      throw error;
    }
  }

  /**
   * `userId`'s newest messages in each group, oldest first: the newest `perChat` a group, and
   * besides them those created in the last `recent.seconds`, at most `recent.perChat` a group.
   */
  async newestOfSenderInGroups(
    tx: EntityManager,
    userId: string,
    perChat: number,
    recent: { seconds: number; perChat: number },
  ): Promise<Array<{ chatId: string; ids: string[] }>> {
    return (await tx.query(
      `SELECT chat_id AS "chatId", array_agg(id::text ORDER BY seq) AS ids
         FROM (SELECT m.chat_id, m.id, m.seq, m.created_at, row_number() OVER (PARTITION BY m.chat_id ORDER BY m.seq DESC) AS rank
                 FROM messages m JOIN chats c ON c.id = m.chat_id AND c.type = 'GROUP'
                WHERE m.sender_id = $1) newest
        WHERE rank <= $2 OR (created_at > now() - make_interval(secs => $3) AND rank <= $4)
        GROUP BY chat_id`,
      [userId, perChat, recent.seconds, recent.perChat],
    )) as Array<{ chatId: string; ids: string[] }>;
  }

  /** The chat's last message id as stored now (null: none), or undefined when the chat is gone. */
  async lastMessageIdOf(chatId: string): Promise<string | null | undefined> {
    const [row] = (await this.manager.query(`SELECT last_message_id AS "lastId" FROM chats WHERE id = $1`, [chatId])) as Array<{ lastId: string | null }>;
    return row ? row.lastId : undefined;
  }

  /** The user's reaction with this emoji as stored now, or null. */
  async findReaction(messageId: string, userId: string, emoji: string): Promise<ReactionEntity | null> {
    const [row] = (await this.manager.query(
      `SELECT id, message_id AS "messageId", user_id AS "userId", emoji, created_at AS "createdAt" FROM reactions WHERE message_id = $1 AND user_id = $2 AND emoji = $3`,
      [messageId, userId, emoji],
    )) as ReactionEntity[];
    return row ?? null;
  }

  async removeReaction(messageId: string, userId: string, emoji: string, tx: EntityManager = this.manager): Promise<boolean> {
    const rows = returned(await tx.query(`DELETE FROM reactions WHERE message_id = $1 AND user_id = $2 AND emoji = $3 RETURNING id`, [messageId, userId, emoji]));
    return rows.length > 0;
  }

  /** Whether this is the user's first listen; null when the message was deleted meanwhile (its foreign key). */
  async addListen(messageId: string, userId: string, tx: EntityManager = this.manager): Promise<boolean | null> {
    try {
      const rows = (await tx.query(
        `INSERT INTO message_listens (message_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING message_id`,
        [messageId, userId],
      )) as unknown[];
      return rows.length > 0;
    } catch (error) {
      if (isForeignKeyViolation(error, 'message_listens_message_id_fkey')) return null;
      throw error;
    }
  }
}
