import type { UserFacts } from '../users/users.repository';
import type { MessageType } from './entities/message.entity';
import type { SenderRow } from './messages.repository';

/**
 * A message set: messages as one viewer is to see them (history pages, search results, the
 * chat list's last messages), with their senders, reactions and listens, read by the statement
 * that chose the messages. Every part travels as a JSON array of arrays, positions named by the
 * tuple types below: about a third of the bytes of one object per message, and PostgreSQL builds
 * it and Node parses it in a fraction of the time. Senders, reactions and listens are one
 * lookup each for the whole set, not subqueries per message; decodeMessageSet names it all.
 */

/** The columns of `messages` (over the alias `msg`) that the page CTE of messageSetSql selects. */
export const SET_COLUMNS = `msg.id, msg.chat_id, msg.seq, msg.sender_id, msg.type, msg.text, msg.media_url, msg.media_name, msg.media_size,
  msg.media_group_id, msg.reply_to_id, msg.forwarded_from_id, msg.forward_sender_name, msg.ciphertext, msg.signal_type, msg.is_edited,
  msg.created_at, msg.updated_at`;

type MessageTuple = [
  id: string,
  chatId: string,
  seq: number,
  senderId: string | null,
  type: MessageType,
  text: string | null,
  mediaUrl: string | null,
  mediaName: string | null,
  mediaSize: number | null,
  mediaGroupId: string | null,
  replyToId: string | null,
  forwardedFromId: string | null,
  forwardSenderName: string | null,
  ciphertext: string | null,
  signalType: number | null,
  isEdited: boolean,
  createdAt: string,
  /** Null when it is createdAt (the message was never edited): half the timestamps of a page. */
  updatedAt: string | null,
  /** The replied-to message's text and sender; null when there is none, it is gone, or the viewer hid it. */
  reply: [text: string | null, senderId: string | null] | null,
];

/** A sender (of a message or of a replied-to one); the avatar facts only where they matter (there is an avatar, the sender is not the viewer). */
type SenderTuple = [id: string, nickname: string, firstName: string | null, lastName: string | null, avatar: string | null, avatarLevel: unknown, viewerIsContact: boolean | null];
type ReactionTuple = [messageId: string, id: string, userId: string, emoji: string, nickname: string];
type ListenTuple = [messageId: string, userId: string];

/** The four JSON columns messageSetSql adds to a statement. */
export interface MessageSetColumns {
  messages: MessageTuple[];
  senders: SenderTuple[];
  reactions: ReactionTuple[];
  listens: ListenTuple[];
}

/**
 * SQL: the columns `messages`, `senders`, `reactions` and `listens` of a MessageSet over the
 * CTE `page` (rows of SET_COLUMNS) for viewer `viewer` (an SQL uuid). Messages come newest
 * first. Senders are those of the messages and of the messages they reply to, less those the
 * statement already reads as UserFacts (`known`: an SQL set of user ids, such as the members of
 * the chats listed), whose SenderRows come from senderFromFacts instead.
 */
export const messageSetSql = (page: string, viewer: string, known?: string): string => `
  (SELECT coalesce(json_agg(json_build_array(p.id, p.chat_id, p.seq, p.sender_id, p.type, p.text, p.media_url, p.media_name, p.media_size,
       p.media_group_id, p.reply_to_id, p.forwarded_from_id, p.forward_sender_name, p.ciphertext, p.signal_type, p.is_edited, p.created_at,
       CASE WHEN p.updated_at <> p.created_at THEN p.updated_at END,
       CASE WHEN p.reply_to_id IS NOT NULL THEN (SELECT json_build_array(rp.text, rp.sender_id) FROM messages rp WHERE rp.id = p.reply_to_id
         AND NOT EXISTS (SELECT 1 FROM message_hides rh WHERE rh.message_id = rp.id AND rh.user_id = ${viewer})) END)
     ORDER BY p.id DESC), '[]') FROM ${page} p) AS messages,
  (SELECT coalesce(json_agg(json_build_array(u.id, u.nickname, u.first_name, u.last_name, u.avatar, s.settings -> 'showAvatar',
       CASE WHEN s.settings -> 'showAvatar' = '"contacts"'::jsonb THEN EXISTS (SELECT 1 FROM contacts sc WHERE sc.owner_id = u.id AND sc.contact_id = ${viewer}) END)), '[]')
     FROM users u LEFT JOIN user_settings s ON s.user_id = u.id AND u.avatar IS NOT NULL AND u.id <> ${viewer}
    WHERE u.id IN (SELECT p.sender_id FROM ${page} p UNION SELECT rp.sender_id FROM ${page} p JOIN messages rp ON rp.id = p.reply_to_id WHERE p.reply_to_id IS NOT NULL)
      ${known ? `AND u.id NOT IN (${known})` : ''}) AS senders,
  (SELECT coalesce(json_agg(json_build_array(r.message_id, r.id, r.user_id, r.emoji, rn.nickname) ORDER BY r.created_at, r.id), '[]')
     FROM ${page} p JOIN reactions r ON r.message_id = p.id JOIN users rn ON rn.id = r.user_id) AS reactions,
  (SELECT coalesce(json_agg(json_build_array(l.message_id, l.user_id)), '[]')
     FROM ${page} p JOIN message_listens l ON l.message_id = p.id WHERE p.type = 'AUDIO') AS listens`;

/** What a message carries, as stored: a new message is written with it and a set reads it back. */
export interface MessageContent {
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
}

/** A message of a set. Timestamps are JSON timestamps (isoFromJson). */
export interface SetMessage extends MessageContent {
  id: string;
  chatId: string;
  seq: number;
  senderId: string | null;
  isEdited: boolean;
  createdAt: string;
  updatedAt: string;
  /** The replied-to message; null when there is none, or when it is gone or the viewer hid it (replyToId set). */
  reply: { text: string | null; senderId: string | null } | null;
}

export interface SetReaction {
  id: string;
  messageId: string;
  userId: string;
  emoji: string;
  nickname: string;
}

export interface MessageSet {
  /** Newest first. */
  messages: SetMessage[];
  senders: Map<string, SenderRow>;
  /** By message id, in the order they were added; a message without reactions has no entry. */
  reactions: Map<string, SetReaction[]>;
  /** By message id; only voice messages with at least one listen have an entry. */
  listens: Map<string, Array<{ userId: string }>>;
}

/** A SenderRow towards `viewerId` from the UserFacts a statement read towards the same viewer. */
export function senderFromFacts(facts: UserFacts, viewerId: string): SenderRow {
  const restricted = facts.avatar !== null && facts.id !== viewerId;
  return {
    id: facts.id,
    nickname: facts.nickname,
    firstName: facts.firstName,
    lastName: facts.lastName,
    avatar: facts.avatar,
    avatarRule: restricted ? { level: facts.rule.avatarLevel ?? null, contactOf: facts.rule.viewerIsContact ? [viewerId] : [] } : null,
  };
}

/** The columns of messageSetSql, named; `known` are the SenderRows of the senders the statement left out (its `known`). */
export function decodeMessageSet(columns: MessageSetColumns, viewerId: string, known: SenderRow[] = []): MessageSet {
  const senders = new Map(known.map((s) => [s.id, s]));
  for (const [id, nickname, firstName, lastName, avatar, avatarLevel, viewerIsContact] of columns.senders) {
    const avatarRule = avatarLevel === null ? null : { level: avatarLevel, contactOf: viewerIsContact === null ? null : viewerIsContact ? [viewerId] : [] };
    senders.set(id, { id, nickname, firstName, lastName, avatar, avatarRule });
  }
  const reactions = new Map<string, SetReaction[]>();
  for (const [messageId, id, userId, emoji, nickname] of columns.reactions) {
    const reaction = { id, messageId, userId, emoji, nickname };
    const list = reactions.get(messageId);
    if (list) list.push(reaction);
    else reactions.set(messageId, [reaction]);
  }
  const listens = new Map<string, Array<{ userId: string }>>();
  for (const [messageId, userId] of columns.listens) {
    const list = listens.get(messageId);
    if (list) list.push({ userId });
    else listens.set(messageId, [{ userId }]);
  }
  const messages = columns.messages.map((t): SetMessage => {
    const [id, chatId, seq, senderId, type, text, mediaUrl, mediaName, mediaSize, mediaGroupId, replyToId, forwardedFromId, forwardSenderName, ciphertext, signalType, isEdited, createdAt, updatedAt, reply] = t;
    return {
      id,
      chatId,
      seq,
      senderId,
      type,
      text,
      mediaUrl,
      mediaName,
      mediaSize,
      mediaGroupId,
      replyToId,
      forwardedFromId,
      forwardSenderName,
      ciphertext,
      signalType,
      isEdited,
      createdAt,
      updatedAt: updatedAt ?? createdAt,
      reply: reply && { text: reply[0], senderId: reply[1] },
    };
  });
  return { messages, senders, reactions, listens };
}
