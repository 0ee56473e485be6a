import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { insertLinkWithinCap, LinkTable } from '../core/database/capped-link';
import { blockedWithSql, decodeUserFacts, UserFacts, UserFactsTuple } from '../users/users.repository';

/** A contact's profile with what decides what the owner sees of it; `isMutual`: they added the owner back. */
export type ContactFacts = UserFacts & { isMutual: boolean };

/**
 * The owner's contacts, alphabetical by nickname, as UserFactsTuple towards the owner: one JSON
 * array, only what a Contact shows (no bio, no showReadReceipts: nulls in their places). Their
 * having the owner in their contacts is both the presence rule's viewerIsContact and isMutual.
 */
const CONTACT_FACTS_SQL = `SELECT coalesce(json_agg(json_build_array(
    u.id, u.nickname, u.first_name, u.last_name, u.avatar, NULL, u.last_online_at,
    s.settings -> 'showOnlineStatus', NULL, s.settings -> 'showAvatar',
    EXISTS (SELECT 1 FROM contacts back WHERE back.owner_id = u.id AND back.contact_id = $1),
    u.id IN (${blockedWithSql('$1')})) ORDER BY lower(u.nickname)), '[]') AS contacts
  FROM contacts c JOIN users u ON u.id = c.contact_id LEFT JOIN user_settings s ON s.user_id = u.id
 WHERE c.owner_id = $1`;

const CONTACTS: LinkTable = { table: 'contacts', owner: 'owner_id', other: 'contact_id' };

@Injectable()
export class ContactsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * The owner's contacts, alphabetical by nickname, with the facts of their privacy towards the
   * owner: one statement. (Reading the links, then every profile with its rules as users, cost
   * about 30 µs of CPU per contact; this, about a third of it.)
   */
  async listOf(ownerId: string): Promise<ContactFacts[]> {
    const [row] = (await this.dataSource.query(CONTACT_FACTS_SQL, [ownerId])) as Array<{ contacts: UserFactsTuple[] }>;
    return row.contacts.map((t) => ({ ...decodeUserFacts(t), isMutual: t[10] }));
  }

  /** Idempotent: true when the contact is stored, now or before; false, storing nothing, when the owner keeps `max` already. */
  add(ownerId: string, contactId: string, max: number): Promise<boolean> {
    return insertLinkWithinCap(this.dataSource, CONTACTS, ownerId, contactId, max);
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
