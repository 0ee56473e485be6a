import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { returned } from '../core/database/query-results';
import { UploadEntity, VariantsStatus } from './entities/upload.entity';

export type NewUpload = Omit<UploadEntity, 'createdAt'>;

@Injectable()
export class UploadsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * Records the upload if it keeps its owner's uploads made after `since` within `maxBytes`: the
   * owner's row is locked for the check and the insert, so uploads racing each other are counted
   * one after another ('over-quota' for those that no longer fit; 'no-owner' when the account went).
   */
  async insertWithinQuota(upload: NewUpload, since: Date, maxBytes: number): Promise<'kept' | 'over-quota' | 'no-owner'> {
    return this.dataSource.transaction(async (tx) => {
      const owner = (await tx.query(`SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, [upload.ownerId])) as unknown[];
      if (!owner.length) return 'no-owner';
      if ((await this.bytesSince(upload.ownerId!, since, tx)) + upload.size > maxBytes) return 'over-quota';
      await tx.getRepository(UploadEntity).insert(upload);
      return 'kept';
    });
  }

  findById(id: string): Promise<UploadEntity | null> {
    return this.dataSource.getRepository(UploadEntity).findOneBy({ id });
  }

  findOwnedByName(ownerId: string, storedName: string): Promise<UploadEntity | null> {
    return this.dataSource.getRepository(UploadEntity).findOneBy({ ownerId, storedName });
  }

  /** What serving a file needs to know of its upload; null once the upload is deleted (or never was). */
  async findServable(storedName: string): Promise<{ metadataStripped: boolean } | null> {
    const rows: Array<{ metadataStripped: boolean }> = await this.dataSource.query(
      `SELECT metadata_stripped AS "metadataStripped" FROM uploads WHERE stored_name = $1`,
      [storedName],
    );
    return rows[0] ?? null;
  }

  async storedNamesOf(ownerId: string, tx: EntityManager = this.dataSource.manager): Promise<string[]> {
    const rows: Array<{ stored_name: string }> = await tx.query(`SELECT stored_name FROM uploads WHERE owner_id = $1`, [ownerId]);
    return rows.map((row) => row.stored_name);
  }

  /**
   * The names among `storedNames` that still have their upload row, whose files must stay, each
   * with whether it still has its owner (an ownerless one was kept when its owner's account went:
   * something of someone else's shows it).
   */
  async stillRecorded(storedNames: string[]): Promise<Array<{ storedName: string; url: string; owned: boolean }>> {
    if (!storedNames.length) return [];
    return this.dataSource.query(`SELECT stored_name AS "storedName", url, owner_id IS NOT NULL AS owned FROM uploads WHERE stored_name = ANY($1::text[])`, [
      storedNames,
    ]);
  }

  /** deleteUnreferenced in a transaction of its own. */
  async releaseUnreferenced(urls: string[]): Promise<string[]> {
    if (!urls.length) return [];
    return this.dataSource.transaction((tx) => this.deleteUnreferenced(tx, urls));
  }

  /** The media URLs that messages in these chats show (read before the chats are deleted). */
  async mediaOfChats(tx: EntityManager, chatIds: string[]): Promise<string[]> {
    if (!chatIds.length) return [];
    const rows: Array<{ media_url: string }> = await tx.query(
      `SELECT DISTINCT media_url FROM messages WHERE chat_id = ANY($1::uuid[]) AND media_url IS NOT NULL
       UNION SELECT avatar FROM chats WHERE id = ANY($1::uuid[]) AND avatar IS NOT NULL`,
      [chatIds],
    );
    return rows.map((row) => row.media_url);
  }

  /**
   * Deletes the uploads behind `urls` that no message shows and that are neither their owner's
   * avatar nor a chat's; resolves their stored names. The rows are locked first, in one order:
   * a message being sent with one of them holds a share lock on it (its foreign key check) until
   * it commits, so the count below, a new statement, sees that message; a send that comes after
   * the lock waits, then fails its foreign key once the row is gone.
   */
  async deleteUnreferenced(tx: EntityManager, urls: string[]): Promise<string[]> {
    await tx.query(`SELECT id FROM uploads WHERE url = ANY($1::text[]) ORDER BY id FOR UPDATE`, [urls]);
    const rows = returned<{ stored_name: string }>(
      await tx.query(
        `DELETE FROM uploads u
          WHERE u.url = ANY($1::text[])
            AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.media_url = u.url)
            AND NOT EXISTS (SELECT 1 FROM users a WHERE a.id = u.owner_id AND a.avatar = u.url)
            AND NOT EXISTS (SELECT 1 FROM chats c WHERE c.avatar = u.url)
          RETURNING u.stored_name`,
        [urls],
      ),
    );
    return rows.map((row) => row.stored_name);
  }

  /** Share-locks the owner's image upload at `url` for the rest of `tx`; false when there is none (deleted meanwhile). */
  async holdOwnedImage(tx: EntityManager, ownerId: string, url: string): Promise<boolean> {
    const rows = (await tx.query(`SELECT 1 FROM uploads WHERE url = $1 AND owner_id = $2 AND kind = 'IMAGE' FOR KEY SHARE`, [url, ownerId])) as unknown[];
    return rows.length > 0;
  }

  /** The bytes of the user's uploads made after `since` and still kept. */
  async bytesSince(ownerId: string, since: Date, tx: EntityManager = this.dataSource.manager): Promise<number> {
    const [row] = (await tx.query(`SELECT coalesce(sum(size + variant_bytes), 0)::float8 AS bytes FROM uploads WHERE owner_id = $1 AND created_at > $2`, [
      ownerId,
      since,
    ])) as Array<{ bytes: number }>;
    return row.bytes;
  }

  /**
   * One step of the sweep of unused uploads: the next `limit` uploads past the sweep's position
   * (upload_sweep) made at or before `cutoff`, of which those that nothing shows are deleted
   * (deleteUnreferenced, with its locks); the position moves past all of them. The position is
   * kept and compared as PostgreSQL's own text of the time (microseconds; a JavaScript Date has
   * milliseconds). Resolves the stored names deleted and whether a full batch was looked at.
   */
  async sweepUnusedStep(cutoff: Date, limit: number): Promise<{ names: string[]; more: boolean }> {
    return this.dataSource.transaction(async (tx) => {
      const [position] = (await tx.query(`SELECT swept_until::text AS until, swept_id AS id FROM upload_sweep FOR UPDATE`)) as Array<{ until: string; id: string }>;
      const batch = (await tx.query(
        `SELECT id, url, created_at::text AS "createdAt" FROM uploads
          WHERE (created_at, id) > ($1::timestamptz, $2::uuid) AND created_at <= $3
          ORDER BY created_at, id LIMIT $4`,
        [position.until, position.id, cutoff, limit],
      )) as Array<{ id: string; url: string; createdAt: string }>;
      if (!batch.length) return { names: [], more: false };
      const names = await this.deleteUnreferenced(tx, batch.map((upload) => upload.url));
      const last = batch[batch.length - 1];
      await tx.query(`UPDATE upload_sweep SET swept_until = $1::timestamptz, swept_id = $2`, [last.createdAt, last.id]);
      return { names, more: batch.length === limit };
    });
  }

  /** Images uploaded between `since` and `before` whose variants are still pending (uploads_pending_variants_idx), newest first: at most `limit`. */
  async pendingVariants(since: Date, before: Date, limit: number): Promise<string[]> {
    const rows = (await this.dataSource.query(`SELECT id FROM uploads WHERE variants = 'pending' AND created_at > $1 AND created_at < $2 ORDER BY created_at DESC LIMIT $3`, [
      since,
      before,
      limit,
    ])) as Array<{ id: string }>;
    return rows.map((row) => row.id);
  }

  /** False when the row is gone (the upload was deleted meanwhile). */
  async setVariants(id: string, variants: VariantsStatus, variantBytes = 0): Promise<boolean> {
    const result: unknown = await this.dataSource.query(`UPDATE uploads SET variants = $2, variant_bytes = $3 WHERE id = $1 RETURNING id`, [id, variants, variantBytes]);
    return returned(result).length > 0;
  }
}
