import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { returned } from '../core/database/query-results';
import { privacyAllows } from '../users/user-settings';
import { blockedWithSql } from '../users/users.repository';

/** Users who share a visible chat with $1 or have $1 in their contacts, with no block either way. */
const RELATED = `
  SELECT m2.user_id AS id FROM chat_members m1 JOIN chat_members m2 ON m2.chat_id = m1.chat_id
   WHERE m1.user_id = $1 AND m2.user_id <> $1 AND m1.visible AND m2.visible
  UNION
  SELECT owner_id AS id FROM contacts WHERE contact_id = $1`;
/** BlockPolicy's `presence` row: no presence either way across a block. */
const NOT_BLOCKED = `r.id NOT IN (${blockedWithSql('$1')})`;

@Injectable()
export class PresenceRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /**
   * The user's related users, split both ways in one query: who may see the user's presence
   * (`audience`, per the user's own setting) and whose presence the user may see (`visible`, per
   * each of theirs). A connecting socket needs both.
   */
  async relations(userId: string): Promise<{ audience: string[]; visible: string[] }> {
    const rows = (await this.dataSource.query(
      `SELECT r.id,
              mine.settings -> 'showOnlineStatus' AS my_level,
              theirs.settings -> 'showOnlineStatus' AS their_level,
              EXISTS (SELECT 1 FROM contacts c WHERE c.owner_id = $1 AND c.contact_id = r.id) AS i_have_them,
              EXISTS (SELECT 1 FROM contacts c WHERE c.owner_id = r.id AND c.contact_id = $1) AS they_have_me
         FROM (${RELATED}) r
         LEFT JOIN user_settings mine ON mine.user_id = $1
         LEFT JOIN user_settings theirs ON theirs.user_id = r.id
        WHERE ${NOT_BLOCKED}`,
      [userId],
    )) as Array<{ id: string; my_level: unknown; their_level: unknown; i_have_them: boolean; they_have_me: boolean }>;
    return {
      audience: rows.filter((r) => privacyAllows(r.my_level, r.i_have_them)).map((r) => r.id),
      visible: rows.filter((r) => privacyAllows(r.their_level, r.they_have_me)).map((r) => r.id),
    };
  }

  /** Who may hear that `userId` came online or went offline, per their privacy setting. */
  async audienceOf(userId: string): Promise<string[]> {
    return (await this.relations(userId)).audience;
  }

  async markLastOnline(userId: string): Promise<Date | null> {
    const rows = returned<{ at: Date }>(await this.dataSource.query(`UPDATE users SET last_online_at = now() WHERE id = $1 RETURNING last_online_at AS at`, [userId]));
    return rows[0]?.at ?? null;
  }
}
