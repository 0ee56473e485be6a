import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { returned } from '../core/database/query-results';
import { UploadEntity, VariantsStatus } from './entities/upload.entity';

export type NewUpload = Omit<UploadEntity, 'createdAt'>;

@Injectable()
export class UploadsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async insert(upload: NewUpload): Promise<void> {
    await this.dataSource.getRepository(UploadEntity).insert(upload);
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

  /** The names among `storedNames` that still have their upload row: their files must stay. */
  async stillRecorded(storedNames: string[]): Promise<string[]> {
    if (!storedNames.length) return [];
    const rows: Array<{ stored_name: string }> = await this.dataSource.query(`SELECT stored_name FROM uploads WHERE stored_name = ANY($1::text[])`, [storedNames]);
    return rows.map((row) => row.stored_name);
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

  /** False when the row is gone (the upload was deleted meanwhile). */
  async setVariants(id: string, variants: VariantsStatus): Promise<boolean> {
    const result: unknown = await this.dataSource.query(`UPDATE uploads SET variants = $2 WHERE id = $1 RETURNING id`, [id, variants]);
    return returned(result).length > 0;
  }
}
