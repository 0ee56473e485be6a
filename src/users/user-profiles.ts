import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { PresenceStore } from '../realtime/presence/presence-store';
import { UserDto } from './dto/user.dto';
import { presenceLevel, presenceVisible } from './presence-privacy';

interface ProfileRow {
  id: string;
  nickname: string;
  first_name: string | null;
  last_name: string | null;
  avatar: string | null;
  bio: string | null;
  last_online_at: Date | null;
  show_online: unknown;
  blocks_viewer: boolean;
  viewer_is_contact: boolean;
}

/**
 * Public profiles of many users as one viewer sees them, in two round trips (one query, one
 * presence lookup): `isOnline`/`lastOnline` only where the user's privacy settings allow it.
 */
@Injectable()
export class UserProfiles {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly presence: PresenceStore,
  ) {}

  async forViewer(viewerId: string, userIds: Iterable<string>): Promise<Map<string, UserDto>> {
    const ids = [...new Set(userIds)];
    const result = new Map<string, UserDto>();
    if (!ids.length) return result;
    const rows = (await this.dataSource.query(
      `SELECT u.id, u.nickname, u.first_name, u.last_name, u.avatar, u.bio, u.last_online_at,
              s.settings -> 'showOnlineStatus' AS show_online,
              EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = u.id AND b.blocked_id = $2) AS blocks_viewer,
              EXISTS (SELECT 1 FROM contacts c WHERE c.owner_id = u.id AND c.contact_id = $2) AS viewer_is_contact
         FROM users u LEFT JOIN user_settings s ON s.user_id = u.id
        WHERE u.id = ANY($1::uuid[])`,
      [ids, viewerId],
    )) as ProfileRow[];
    const visible = new Set(
      rows
        .filter((r) => r.id === viewerId || presenceVisible(presenceLevel(r.show_online), { blocksViewer: r.blocks_viewer, viewerIsContact: r.viewer_is_contact }))
        .map((r) => r.id),
    );
    const online = await this.presence.online([...visible]);
    for (const r of rows) {
      const shown = visible.has(r.id);
      result.set(r.id, {
        id: r.id,
        nickname: r.nickname,
        firstName: r.first_name,
        lastName: r.last_name,
        avatar: r.avatar,
        bio: r.bio,
        isOnline: shown && online.has(r.id),
        lastOnline: shown && r.last_online_at ? new Date(r.last_online_at).toISOString() : null,
      });
    }
    return result;
  }
}
