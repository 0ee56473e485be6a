import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { newId } from '../core/database/ids';
import { returned } from '../core/database/query-results';
import { ChatType } from './entities/chat.entity';

/** An invite link as stored; timestamps as Dates. */
export interface InviteLinkRow {
  id: string;
  chatId: string;
  code: string;
  expiresAt: Date | null;
  maxUses: number | null;
  uses: number;
  revokedAt: Date | null;
  createdAt: Date;
  /** Whether the link is past its expiry or use limit, by the database clock. */
  spent: boolean;
}

/** What a join preview shows of the link's group. */
export interface InvitePreviewRow {
  id: string;
  name: string | null;
  avatar: string | null;
  description: string | null;
  memberCount: number;
  /** The caller was removed by a manager and not added back. */
  callerRemoved: boolean;
}

const LINK_COLUMNS = `l.id, l.chat_id AS "chatId", l.code, l.expires_at AS "expiresAt", l.max_uses AS "maxUses", l.uses,
  l.revoked_at AS "revokedAt", l.created_at AS "createdAt",
  ((l.expires_at IS NOT NULL AND l.expires_at <= now()) OR (l.max_uses IS NOT NULL AND l.uses >= l.max_uses)) AS spent`;
const ACTIVE = `l.revoked_at IS NULL AND (l.expires_at IS NULL OR l.expires_at > now()) AND (l.max_uses IS NULL OR l.uses < l.max_uses)`;

@Injectable()
export class InviteLinksRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  transaction<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(work);
  }

  /**
   * Locks the chat row against other link creations and joins (FOR NO KEY UPDATE: messages
   * referencing the chat still insert); resolves its type, or null when the chat is gone.
   */
  async lockChat(tx: EntityManager, chatId: string): Promise<ChatType | null> {
    const rows = (await tx.query(`SELECT type FROM chats WHERE id = $1 FOR NO KEY UPDATE`, [chatId])) as Array<{ type: ChatType }>;
    return rows[0]?.type ?? null;
  }

  async countActive(tx: EntityManager, chatId: string): Promise<number> {
    const [row] = (await tx.query(`SELECT count(*)::int AS n FROM invite_links l WHERE l.chat_id = $1 AND ${ACTIVE}`, [chatId])) as Array<{ n: number }>;
    return row.n;
  }

  async create(
    tx: EntityManager,
    link: { chatId: string; code: string; codeHash: Buffer; createdBy: string; expiresInHours: number | null; maxUses: number | null },
  ): Promise<InviteLinkRow> {
    const [row] = returned<InviteLinkRow>(
      await tx.query(
        `INSERT INTO invite_links AS l (id, chat_id, code, code_hash, created_by, expires_at, max_uses)
         VALUES ($1, $2, $3, $4, $5, CASE WHEN $6::int IS NULL THEN NULL ELSE now() + make_interval(hours => $6::int) END, $7)
         RETURNING ${LINK_COLUMNS}`,
        [newId(), link.chatId, link.code, link.codeHash, link.createdBy, link.expiresInHours, link.maxUses],
      ),
    );
    return row;
  }

  /** The chat's active links (not revoked, not expired, not used up), newest first. */
  async listActive(chatId: string): Promise<InviteLinkRow[]> {
    return (await this.dataSource.query(`SELECT ${LINK_COLUMNS} FROM invite_links l WHERE l.chat_id = $1 AND ${ACTIVE} ORDER BY l.created_at DESC, l.id DESC`, [
      chatId,
    ])) as InviteLinkRow[];
  }

  async byId(linkId: string): Promise<InviteLinkRow | null> {
    const rows = (await this.dataSource.query(`SELECT ${LINK_COLUMNS} FROM invite_links l WHERE l.id = $1`, [linkId])) as InviteLinkRow[];
    return rows[0] ?? null;
  }

  /** The link whose code hashes to `codeHash`; locked for the transaction with `lock`. */
  async byCodeHash(codeHash: Buffer, tx: EntityManager = this.dataSource.manager, options: { lock?: boolean } = {}): Promise<InviteLinkRow | null> {
    const rows = (await tx.query(`SELECT ${LINK_COLUMNS} FROM invite_links l WHERE l.code_hash = $1 ${options.lock ? 'FOR UPDATE' : ''}`, [codeHash])) as InviteLinkRow[];
    return rows[0] ?? null;
  }

  /** Marks the link revoked (a repeat keeps the first time). */
  async revoke(tx: EntityManager, linkId: string): Promise<void> {
    await tx.query(`UPDATE invite_links SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1`, [linkId]);
  }

  /** Revokes the chat's oldest active link that was never used; resolves whether there was one. */
  async revokeOldestUnused(tx: EntityManager, chatId: string): Promise<boolean> {
    const rows = returned(
      await tx.query(
        `UPDATE invite_links SET revoked_at = now()
          WHERE id = (SELECT l.id FROM invite_links l WHERE l.chat_id = $1 AND l.uses = 0 AND ${ACTIVE} ORDER BY l.created_at, l.id LIMIT 1)
          RETURNING id`,
        [chatId],
      ),
    );
    return rows.length > 0;
  }

  async countUse(tx: EntityManager, linkId: string): Promise<void> {
    await tx.query(`UPDATE invite_links SET uses = uses + 1 WHERE id = $1`, [linkId]);
  }

  /** The chat a link leads to, and whether `callerId` was removed from it by a manager (chat_removals) and is not a member again. */
  async preview(chatId: string, callerId: string): Promise<InvitePreviewRow | null> {
    const rows = (await this.dataSource.query(
      `SELECT c.id, c.name, c.avatar, c.description, (SELECT count(*)::int FROM chat_members m WHERE m.chat_id = c.id) AS "memberCount",
              (EXISTS (SELECT 1 FROM chat_removals r WHERE r.chat_id = c.id AND r.user_id = $2)
               AND NOT EXISTS (SELECT 1 FROM chat_members m WHERE m.chat_id = c.id AND m.user_id = $2)) AS "callerRemoved"
         FROM chats c WHERE c.id = $1`,
      [chatId, callerId],
    )) as InvitePreviewRow[];
    return rows[0] ?? null;
  }

  async memberCount(tx: EntityManager, chatId: string): Promise<number> {
    const [row] = (await tx.query(`SELECT count(*)::int AS n FROM chat_members WHERE chat_id = $1`, [chatId])) as Array<{ n: number }>;
    return row.n;
  }
}
