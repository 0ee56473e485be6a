import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { MIN_UUID } from '../core/database/ids';
import { preparedQuery } from '../core/database/prepared';
import type { AuthContext } from '../auth/auth-context';
import { ChatType } from '../chats/entities/chat.entity';
import { MessageType } from '../messages/entities/message.entity';
import { hiddenForSql } from '../messages/messages.repository';

/** A user as an export names them. */
export interface ExportPerson {
  id: string;
  nickname: string;
  firstName: string | null;
  lastName: string | null;
}

/** One exported chat with its current members (joined first). */
export interface ExportChatRow {
  id: string;
  type: ChatType;
  name: string | null;
  members: ExportPerson[];
}

/** One exported message with its sender's name parts (null when the sender's account is gone). */
export interface ExportMessageRow {
  id: string;
  senderId: string | null;
  type: MessageType;
  text: string | null;
  mediaUrl: string | null;
  mediaName: string | null;
  forwardSenderName: string | null;
  /** A Date from the driver. */
  createdAt: Date | string;
  isEdited: boolean;
  senderNickname: string | null;
  senderFirstName: string | null;
  senderLastName: string | null;
}

/** Session $1 is live: an export reads nothing more once the session that asked for it ended (an InitPlan, read once per statement). */
const SESSION_LIVE = (param: string) => `EXISTS (SELECT 1 FROM sessions s WHERE s.id = ${param} AND s.expires_at > now())`;

/**
 * A page of the chats user $1 exports: the visible memberships outside SECRET chats (those hold
 * only ciphertext), archived and saved messages included, by chat id (creation order, ids being
 * UUIDv7) after $2, at most $4; $3 narrows it to one chat; nothing once session $5 ended. Members
 * come as one JSON value per chat.
 */
const CHAT_PAGE_SQL = `SELECT c.id, c.type, c.name,
    (SELECT coalesce(json_agg(json_build_object('id', u.id, 'nickname', u.nickname, 'firstName', u.first_name, 'lastName', u.last_name)
              ORDER BY cm.joined_at, cm.id), '[]')
       FROM chat_members cm JOIN users u ON u.id = cm.user_id WHERE cm.chat_id = c.id) AS members
   FROM chat_members m JOIN chats c ON c.id = m.chat_id
  WHERE m.user_id = $1 AND m.visible AND c.type <> 'SECRET' AND c.id > $2::uuid AND ($3::uuid IS NULL OR c.id = $3::uuid)
    AND ${SESSION_LIVE('$5::uuid')}
  ORDER BY c.id LIMIT $4`;

/**
 * A page of chat $1's history as user $2 sees it, oldest first after message id $3 (ids sort as
 * sequence numbers do), at most $4: a keyset range of messages_chat_id_idx. Deleted messages
 * are gone from the table; what $2 hid is left out (the probe is skipped for the members who
 * never hid anything, read once per statement). Empty once $2 is no visible member any more
 * (removed or gone while the export was being read) or session $5 ended: an export that a
 * client reads slowly must not show what its reader lost the right to see meanwhile.
 */
const MESSAGE_PAGE_SQL = `SELECT msg.id, msg.sender_id AS "senderId", msg.type, msg.text, msg.media_url AS "mediaUrl", msg.media_name AS "mediaName",
       msg.forward_sender_name AS "forwardSenderName", msg.created_at AS "createdAt", msg.is_edited AS "isEdited",
       u.nickname AS "senderNickname", u.first_name AS "senderFirstName", u.last_name AS "senderLastName"
  FROM messages msg LEFT JOIN users u ON u.id = msg.sender_id
 WHERE msg.chat_id = $1 AND msg.id > $3::uuid
   AND EXISTS (SELECT 1 FROM chat_members v WHERE v.chat_id = $1 AND v.user_id = $2 AND v.visible) AND ${SESSION_LIVE('$5::uuid')}
   AND NOT ${hiddenForSql('$2', `coalesce((SELECT v.hides_messages FROM chat_members v WHERE v.chat_id = $1 AND v.user_id = $2), false)`)}
 ORDER BY msg.id LIMIT $4`;

/** Reads for data exports (wire-contract-v2.2 §14): short keyset pages, so an export of any size holds no connection and little memory. */
@Injectable()
export class ExportRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async person(userId: string): Promise<ExportPerson | null> {
    const rows = (await this.dataSource.query(`SELECT id, nickname, first_name AS "firstName", last_name AS "lastName" FROM users WHERE id = $1`, [
      userId,
    ])) as ExportPerson[];
    return rows[0] ?? null;
  }

  /** The chat's type when `userId` is a visible member of it, else null. */
  async visibleChatType(chatId: string, userId: string): Promise<ChatType | null> {
    const rows = (await this.dataSource.query(
      `SELECT c.type FROM chat_members m JOIN chats c ON c.id = m.chat_id WHERE m.chat_id = $1 AND m.user_id = $2 AND m.visible`,
      [chatId, userId],
    )) as Array<{ type: ChatType }>;
    return rows[0]?.type ?? null;
  }

  /** See CHAT_PAGE_SQL; `after` null starts at the beginning. */
  chatPage(reader: AuthContext, page: { after: string | null; onlyChatId: string | null; limit: number }): Promise<ExportChatRow[]> {
    return preparedQuery(this.dataSource.manager, 'export.chat-page', CHAT_PAGE_SQL, [reader.userId, page.after ?? MIN_UUID, page.onlyChatId, page.limit, reader.sessionId]);
  }

  /** See MESSAGE_PAGE_SQL; `after` null starts at the oldest message. */
  messagePage(chatId: string, reader: AuthContext, page: { after: string | null; limit: number }): Promise<ExportMessageRow[]> {
    return preparedQuery(this.dataSource.manager, 'export.message-page', MESSAGE_PAGE_SQL, [chatId, reader.userId, page.after ?? MIN_UUID, page.limit, reader.sessionId]);
  }

  /** Whether the session is live (present and unexpired). */
  async sessionLive(sessionId: string): Promise<boolean> {
    const rows = (await this.dataSource.query(`SELECT ${SESSION_LIVE('$1::uuid')} AS live`, [sessionId])) as Array<{ live: boolean }>;
    return rows[0].live;
  }
}
