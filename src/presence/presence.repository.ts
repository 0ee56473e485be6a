import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { returned } from '../core/database/query-results';
import { privacyAllows } from '../users/user-settings';

/** Users who share a visible chat with $1 or have $1 in their contacts, with no block either way. */
const RELATED = `
  SELECT m2.user_id AS id FROM chat_members m1 JOIN chat_members m2 ON m2.chat_id = m1.chat_id
   WHERE m1.user_id = $1 AND m2.user_id <> $1 AND m1.visible AND m2.visible
  UNION
  SELECT owner_id AS id FROM contacts WHERE contact_id = $1`;
const NOT_BLOCKED = `NOT EXISTS (SELECT 1 FROM blocks b WHERE (b.blocker_id = $1 AND b.blocked_id = r.id) OR (b.blocker_id = r.id AND b.blocked_id = $1))`;

@Injectable()
export class PresenceRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Who may hear that `userId` came online or went offline, per their privacy setting. */
  async audienceOf(userId: string): Promise<string[]> {
    const rows = (await this.dataSource.query(
      `SELECT r.id, s.settings -> 'showOnlineStatus' AS level,
              EXISTS (SELECT 1 FROM contacts c WHERE c.owner_id = $1 AND c.contact_id = r.id) AS is_contact
         FROM (${RELATED}) r LEFT JOIN user_settings s ON s.user_id = $1
        WHERE ${NOT_BLOCKED}`,
      [userId],
    )) as Array<{ id: string; level: unknown; is_contact: boolean }>;
    return rows.filter((r) => privacyAllows(r.level, r.is_contact)).map((r) => r.id);
  }

  /** The related users whose presence `viewerId` may see (candidates for the snapshot). */
  async visibleTo(viewerId: string): Promise<string[]> {
    const rows = (await this.dataSource.query(
      `SELECT r.id, s.settings -> 'showOnlineStatus' AS level,
              EXISTS (SELECT 1 FROM contacts c WHERE c.owner_id = r.id AND c.contact_id = $1) AS viewer_is_contact
         FROM (${RELATED}) r LEFT JOIN user_settings s ON s.user_id = r.id
        WHERE ${NOT_BLOCKED}`,
      [viewerId],
    )) as Array<{ id: string; level: unknown; viewer_is_contact: boolean }>;
    return rows.filter((r) => privacyAllows(r.level, r.viewer_is_contact)).map((r) => r.id);
  }

  async markLastOnline(userId: string): Promise<Date | null> {
    const rows = returned<{ at: Date }>(await this.dataSource.query(`UPDATE users SET last_online_at = now() WHERE id = $1 RETURNING last_online_at AS at`, [userId]));
    return rows[0]?.at ?? null;
  }
}
