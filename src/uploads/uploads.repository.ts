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

  /** Read-only look at the users table: file deletion waits until the account is gone. */
  async ownerExists(ownerId: string): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(`SELECT 1 FROM users WHERE id = $1`, [ownerId]);
    return rows.length > 0;
  }

  /** False when the row is gone (the owner was deleted meanwhile). */
  async setVariants(id: string, variants: VariantsStatus): Promise<boolean> {
    const result: unknown = await this.dataSource.query(`UPDATE uploads SET variants = $2 WHERE id = $1 RETURNING id`, [id, variants]);
    return returned(result).length > 0;
  }
}
