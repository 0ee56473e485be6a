import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { hiddenForSql } from '../messages/messages.repository';
import type { ReportReason } from './dto/report.dto';

/** What a report is about, as the reporter named it (null: not named). */
export interface ReportTargets {
  userId: string | null;
  messageId: string | null;
  chatId: string | null;
}

/** The reported message as it stood when reported. `text` is null in SECRET chats, whose content the server cannot read. */
export interface MessageEvidence {
  chatId: string;
  chatType: string;
  senderId: string | null;
  type: string;
  text: string | null;
  mediaUrl: string | null;
  mediaName: string | null;
  createdAt: Date;
}

export interface NewReport {
  id: string;
  reporterId: string;
  targets: ReportTargets;
  reason: ReportReason;
  details: string | null;
  message: MessageEvidence | null;
}

/** Within this window a repeat of a report (same reporter, targets and reason) is the report already filed. */
const REPEAT_WINDOW = `interval '24 hours'`;

@Injectable()
export class ReportsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  transaction<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(work);
  }

  /**
   * The message as the reporter sees it: in a chat they are a visible member of, not hidden by
   * them ("delete for me"); null otherwise. SECRET chats give no text: what the server holds of
   * their content is ciphertext, which is never copied.
   */
  async messageEvidence(tx: EntityManager, messageId: string, reporterId: string): Promise<MessageEvidence | null> {
    const rows: Array<{
      chat_id: string;
      chat_type: string;
      sender_id: string | null;
      type: string;
      text: string | null;
      media_url: string | null;
      media_name: string | null;
      created_at: Date | string;
    }> = await tx.query(
      `SELECT msg.chat_id, c.type AS chat_type, msg.sender_id, msg.type,
              CASE WHEN c.type = 'SECRET' THEN NULL ELSE msg.text END AS text,
              msg.media_url, CASE WHEN c.type = 'SECRET' THEN NULL ELSE msg.media_name END AS media_name, msg.created_at
         FROM messages msg
         JOIN chats c ON c.id = msg.chat_id
         JOIN chat_members cm ON cm.chat_id = msg.chat_id AND cm.user_id = $2 AND cm.visible
        WHERE msg.id = $1 AND NOT ${hiddenForSql('$2', 'cm.hides_messages')}`,
      [messageId, reporterId],
    );
    const row = rows[0];
    if (!row) return null;
    return {
      chatId: row.chat_id,
      chatType: row.chat_type,
      senderId: row.sender_id,
      type: row.type,
      text: row.text,
      mediaUrl: row.media_url,
      mediaName: row.media_name,
      createdAt: new Date(row.created_at),
    };
  }

  /**
   * Serialises this reporter's filings until the transaction ends (a transaction-level advisory
   * lock on a hash of their id), so two identical reports sent at once cannot both miss the
   * repeat lookup and both insert. Different reporters never wait for each other (unless two
   * ids hash alike, which only makes them take turns).
   */
  async lockReporter(tx: EntityManager, reporterId: string): Promise<void> {
    await tx.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`reports:${reporterId}`]);
  }

  /** The id of this reporter's report on exactly these targets for this reason, filed within the last 24 hours. */
  async findRepeat(tx: EntityManager, reporterId: string, targets: ReportTargets, reason: ReportReason): Promise<string | null> {
    const rows: Array<{ id: string }> = await tx.query(
      `SELECT id FROM reports
        WHERE reporter_id = $1 AND created_at > now() - ${REPEAT_WINDOW} AND reason = $5
          AND target_user_id IS NOT DISTINCT FROM $2::uuid
          AND target_message_id IS NOT DISTINCT FROM $3::uuid
          AND target_chat_id IS NOT DISTINCT FROM $4::uuid
        ORDER BY created_at DESC LIMIT 1`,
      [reporterId, targets.userId, targets.messageId, targets.chatId, reason],
    );
    return rows[0]?.id ?? null;
  }

  /**
   * Stores the report with its evidence: the message copied by the caller, and the reported
   * user's profile and the reported chat's name and description as they are now.
   */
  async insert(tx: EntityManager, report: NewReport): Promise<void> {
    const { targets, message } = report;
    await tx.query(
      `INSERT INTO reports (id, reporter_id, target_user_id, target_message_id, target_chat_id, reason, details,
                            message_chat_id, message_chat_type, message_sender_id, message_type, message_text,
                            message_media_url, message_media_name, message_created_at,
                            target_user_snapshot, target_chat_snapshot)
       VALUES ($1, $2, $3::uuid, $4::uuid, $5::uuid, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15,
               (SELECT jsonb_build_object('nickname', u.nickname, 'firstName', u.first_name, 'lastName', u.last_name, 'bio', u.bio, 'avatar', u.avatar)
                  FROM users u WHERE u.id = $3::uuid),
               (SELECT jsonb_build_object('type', c.type, 'name', c.name, 'description', c.description, 'avatar', c.avatar)
                  FROM chats c WHERE c.id = $5::uuid))`,
      [
        report.id,
        report.reporterId,
        targets.userId,
        targets.messageId,
        targets.chatId,
        report.reason,
        report.details,
        message?.chatId ?? null,
        message?.chatType ?? null,
        message?.senderId ?? null,
        message?.type ?? null,
        message?.text ?? null,
        message?.mediaUrl ?? null,
        message?.mediaName ?? null,
        message?.createdAt ?? null,
      ],
    );
  }
}
