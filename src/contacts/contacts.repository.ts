import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';

export interface ContactLink {
  contactId: string;
  isMutual: boolean;
}

@Injectable()
export class ContactsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** The owner's contacts, alphabetical by nickname, each with whether they added the owner back. */
  async listOf(ownerId: string): Promise<ContactLink[]> {
    const rows: Array<{ contact_id: string; is_mutual: boolean }> = await this.dataSource.query(
      `SELECT c.contact_id,
              EXISTS (SELECT 1 FROM contacts back WHERE back.owner_id = c.contact_id AND back.contact_id = c.owner_id) AS is_mutual
         FROM contacts c JOIN users u ON u.id = c.contact_id
        WHERE c.owner_id = $1
        ORDER BY lower(u.nickname)`,
      [ownerId],
    );
    return rows.map((r) => ({ contactId: r.contact_id, isMutual: r.is_mutual }));
  }

  /** Idempotent. */
  async add(ownerId: string, contactId: string): Promise<void> {
    await this.dataSource.query(`INSERT INTO contacts (owner_id, contact_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [ownerId, contactId]);
  }

  async remove(ownerId: string, contactId: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM contacts WHERE owner_id = $1 AND contact_id = $2`, [ownerId, contactId]);
  }

  /** Both directions of the relation between two users. */
  async relation(ownerId: string, otherId: string): Promise<{ isContact: boolean; addedBack: boolean }> {
    const rows: Array<{ owner_id: string }> = await this.dataSource.query(
      `SELECT owner_id FROM contacts WHERE (owner_id = $1 AND contact_id = $2) OR (owner_id = $2 AND contact_id = $1)`,
      [ownerId, otherId],
    );
    return { isContact: rows.some((r) => r.owner_id === ownerId), addedBack: rows.some((r) => r.owner_id === otherId) };
  }
}
