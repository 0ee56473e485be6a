import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { insertLinkWithinCap, LinkTable } from '../core/database/capped-link';
import { newId } from '../core/database/ids';
import { preparedQuery } from '../core/database/prepared';
import { returned } from '../core/database/query-results';
import { UserSettingsEntity } from './entities/user-settings.entity';
import { UserEntity } from './entities/user.entity';

export type ProfileChanges = Partial<Pick<UserEntity, 'nickname' | 'firstName' | 'lastName' | 'avatar' | 'bio'>>;

/** What decides whether a viewer sees a target's presence and avatar. */
export interface PresenceRule {
  id: string;
  /** The target's stored showOnlineStatus (undefined when never set). */
  level: unknown;
  /** The target's stored showAvatar (undefined when never set). Blocks do not change it (the avatar is not among BlockPolicy's rows). */
  avatarLevel: unknown;
  /** The target has the viewer in their contacts. */
  viewerIsContact: boolean;
  /** A block stands between the target and the viewer, either way. */
  blocked: boolean;
}

/** What decides whether a user may be added to a group by an inviter (UsersRepository.groupInviteFacts). */
export interface GroupInviteFacts {
  id: string;
  nickname: string;
  firstName: string | null;
  lastName: string | null;
  /** The stored allowGroupInvites (undefined or null when never set: everyone may). */
  level: unknown;
  inviterIsContact: boolean;
  blockedInviter: boolean;
}

export interface Membership {
  chatId: string;
  type: 'DIRECT' | 'GROUP' | 'SECRET' | 'SELF';
  role: 'OWNER' | 'ADMIN' | 'MEMBER';
}

/**
 * SQL: the ids of the users with a block between them and `user` (an SQL expression), either
 * way, optionally only among `among` (an SQL uuid[] expression). Both halves are index scans
 * (the primary key on blocker_id, blocks_blocked_idx); an uncorrelated use runs once per
 * statement. What each kind of action a block stops is BlockPolicy's table (block-policy.ts).
 */
export const blockedWithSql = (user: string, among?: string): string =>
  `SELECT bk.blocked_id FROM blocks bk WHERE bk.blocker_id = ${user}${among ? ` AND bk.blocked_id = ANY(${among})` : ''}
   UNION ALL SELECT bk.blocker_id FROM blocks bk WHERE bk.blocked_id = ${user}${among ? ` AND bk.blocker_id = ANY(${among})` : ''}`;

/**
 * Account `u` with settings `s` was last used (users.last_active_at) more than its
 * autoDeleteMonths before $1; 'never' (or no setting) never matches. The months come from a CASE,
 * not a cast of the stored string, so no other value can make the statement fail.
 */
const INACTIVE_SQL = `u.last_active_at < $1::timestamptz - make_interval(months => CASE s.settings ->> 'autoDeleteMonths' WHEN '1' THEN 1 WHEN '3' THEN 3 WHEN '6' THEN 6 WHEN '12' THEN 12 END)`;

const USER_COLUMNS = `u.id, u.email, u.nickname, u.first_name, u.last_name, u.avatar, u.bio, u.last_online_at, u.created_at, u.updated_at`;

/**
 * Users matching `where` (over the alias `u`) with what decides whether viewer `viewer` (a
 * parameter such as `$2`) sees their presence, their read receipts and their avatar. Rows go
 * through userWithRule(). (Statements that nest many users use userFactsJsonSql.)
 */
const usersWithRulesSql = (where: string, viewer: string): string => `SELECT ${USER_COLUMNS},
       s.settings -> 'showOnlineStatus' AS level,
       s.settings -> 'showReadReceipts' AS receipt_level,
       s.settings -> 'showAvatar' AS avatar_level,
       EXISTS (SELECT 1 FROM contacts c WHERE c.owner_id = u.id AND c.contact_id = ${viewer}) AS viewer_is_contact,
       u.id IN (${blockedWithSql(viewer)}) AS blocked
  FROM users u LEFT JOIN user_settings s ON s.user_id = u.id WHERE ${where}`;
const WITH_RULES_BY_IDS_SQL = usersWithRulesSql('u.id = ANY($1::uuid[])', '$2');

/**
 * A user as the statements that read many at once (the chat list) send it: one JSON array in
 * this order, the public profile and the facts that decide what one viewer sees of it. An array
 * is about half the bytes of an object, and PostgreSQL builds it and Node parses it in well under
 * half the time; decodeUserFacts names the positions.
 */
export type UserFactsTuple = [...UserProfileTuple, viewerIsContact: boolean, blocked: boolean];
/** A user's public profile and stored privacy levels: the positions UserFactsTuple starts with (USER_PROFILE_JSON). */
type UserProfileTuple = [
  id: string,
  nickname: string,
  firstName: string | null,
  lastName: string | null,
  avatar: string | null,
  bio: string | null,
  /** A JSON timestamp. */
  lastOnlineAt: string | null,
  presenceLevel: unknown,
  receiptLevel: unknown,
  avatarLevel: unknown,
];
/** SQL: UserProfileTuple's values for user `u` with settings `s`. */
const USER_PROFILE_JSON = `u.id, u.nickname, u.first_name, u.last_name, u.avatar, u.bio, u.last_online_at,
    s.settings -> 'showOnlineStatus', s.settings -> 'showReadReceipts', s.settings -> 'showAvatar'`;

/**
 * SQL: a JSON array of UserFactsTuple for the users matching `where` (over the alias `u`)
 * towards viewer `viewer` (an SQL uuid), `[]` for none. A fragment other statements nest.
 */
export const userFactsJsonSql = (where: string, viewer: string): string => `SELECT coalesce(json_agg(json_build_array(
    ${USER_PROFILE_JSON},
    EXISTS (SELECT 1 FROM contacts c WHERE c.owner_id = u.id AND c.contact_id = ${viewer}),
    u.id IN (${blockedWithSql(viewer)}))), '[]')
  FROM users u LEFT JOIN user_settings s ON s.user_id = u.id WHERE ${where}`;

/**
 * SQL: as userFactsJsonSql, towards many viewers at once (`viewers`, an SQL uuid[]): in place of
 * one viewer's two facts, which of the viewers each user has as a contact, has blocked, and is
 * blocked by (UserFactsAmong reads each viewer's UserFacts from them). Each is an index range.
 */
export const userFactsAmongJsonSql = (where: string, viewers: string): string => `SELECT coalesce(json_agg(json_build_array(
    ${USER_PROFILE_JSON},
    ARRAY(SELECT c.contact_id FROM contacts c WHERE c.owner_id = u.id AND c.contact_id = ANY(${viewers})),
    ARRAY(SELECT bk.blocked_id FROM blocks bk WHERE bk.blocker_id = u.id AND bk.blocked_id = ANY(${viewers})),
    ARRAY(SELECT bk.blocker_id FROM blocks bk WHERE bk.blocked_id = u.id AND bk.blocker_id = ANY(${viewers})))), '[]')
  FROM users u LEFT JOIN user_settings s ON s.user_id = u.id WHERE ${where}`;
export type UserFactsAmongTuple = [...UserProfileTuple, contactOf: string[], blocks: string[], blockedBy: string[]];

/** A user's public profile with what decides what one viewer sees of it (presence, avatar, read receipts). */
export interface UserFacts {
  id: string;
  nickname: string;
  firstName: string | null;
  lastName: string | null;
  avatar: string | null;
  bio: string | null;
  /** A JSON timestamp. */
  lastOnlineAt: string | null;
  rule: PresenceRule;
  /** The stored showReadReceipts (null when never set). */
  receiptLevel: unknown;
}

export function decodeUserFacts(t: UserFactsTuple): UserFacts {
  return factsOf(t, t[10], t[11]);
}

/**
 * Users read with userFactsAmongJsonSql: each one's UserFacts towards any of the viewers it was
 * read for, and which of them blocked that viewer.
 */
export class UserFactsAmong {
  private readonly users: Array<{ profile: UserFactsAmongTuple; contactOf: Set<string>; blocks: Set<string>; blockedBy: Set<string> }>;

  constructor(tuples: UserFactsAmongTuple[]) {
    this.users = tuples.map((t) => ({ profile: t, contactOf: new Set(t[10]), blocks: new Set(t[11]), blockedBy: new Set(t[12]) }));
  }

  get ids(): string[] {
    return this.users.map((u) => u.profile[0]);
  }

  towards(viewerId: string): UserFacts[] {
    return this.users.map((u) => factsOf(u.profile, u.contactOf.has(viewerId), u.blocks.has(viewerId) || u.blockedBy.has(viewerId)));
  }

  /** The users who blocked the viewer. */
  blockersOf(viewerId: string): string[] {
    return this.users.filter((u) => u.blocks.has(viewerId)).map((u) => u.profile[0]);
  }
}

function factsOf(t: [...UserProfileTuple, ...unknown[]], viewerIsContact: boolean, blocked: boolean): UserFacts {
  const [id, nickname, firstName, lastName, avatar, bio, lastOnlineAt, presenceLevel, receiptLevel, avatarLevel] = t;
  return {
    id,
    nickname,
    firstName,
    lastName,
    avatar,
    bio,
    lastOnlineAt,
    rule: { id, level: presenceLevel ?? undefined, avatarLevel: avatarLevel ?? undefined, viewerIsContact, blocked },
    receiptLevel,
  };
}

const BY_ID_SQL = `SELECT ${USER_COLUMNS} FROM users u WHERE u.id = $1`;

interface UserRow {
  id: string;
  email: string;
  nickname: string;
  first_name: string | null;
  last_name: string | null;
  avatar: string | null;
  bio: string | null;
  last_online_at: Date | string | null;
  created_at: Date | string;
  updated_at: Date | string;
}

function toEntity(row: UserRow): UserEntity {
  return Object.assign(new UserEntity(), {
    id: row.id,
    email: row.email,
    nickname: row.nickname,
    firstName: row.first_name,
    lastName: row.last_name,
    avatar: row.avatar,
    bio: row.bio,
    lastOnlineAt: row.last_online_at ? new Date(row.last_online_at) : null,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  });
}

/** A user row with the facts of its privacy rules (usersWithRulesSql). */
type UserWithRuleRow = UserRow & { level: unknown; receipt_level: unknown; avatar_level: unknown; viewer_is_contact: boolean; blocked: boolean };

function toRule(row: UserWithRuleRow): PresenceRule {
  return { id: row.id, level: row.level ?? undefined, avatarLevel: row.avatar_level ?? undefined, viewerIsContact: row.viewer_is_contact, blocked: row.blocked };
}

function userWithRule(row: UserWithRuleRow): { user: UserEntity; rule: PresenceRule } {
  return { user: toEntity(row), rule: toRule(row) };
}

/** Escapes LIKE wildcards so that a query is matched literally. */
export function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** SQL: the memberships `other` of those who share a chat with user $1 and can see it, the user excluded (UsersRepository.chatPartnerIds). */
const CHAT_PARTNERS_OF_$1 = `FROM chat_members mine
  JOIN chat_members other ON other.chat_id = mine.chat_id AND other.user_id <> mine.user_id AND other.visible
 WHERE mine.user_id = $1`;

const BLOCKS: LinkTable = { table: 'blocks', owner: 'blocker_id', other: 'blocked_id' };

@Injectable()
export class UsersRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** A prepared statement, not the repository API: this runs on every /api/users/me, where building the query cost more than running it. */
  async findById(id: string, tx: EntityManager = this.dataSource.manager): Promise<UserEntity | null> {
    const [row] = await preparedQuery<UserRow[]>(tx, 'users.by-id', BY_ID_SQL, [id]);
    return row ? toEntity(row) : null;
  }

  /**
   * The user with this email. With `share` (inside a transaction), the row stays until the
   * transaction ends: an account deletion holding it is waited for (then there is no user), and
   * one starting later waits for the transaction, so rows it adds for the user (a session) are
   * never refused by their foreign key nor deleted with the account right after.
   */
  findByEmail(email: string, tx: EntityManager = this.dataSource.manager, options: { share?: boolean } = {}): Promise<UserEntity | null> {
    return tx.getRepository(UserEntity).findOne({ where: { email }, ...(options.share ? { lock: { mode: 'pessimistic_read' as const } } : {}) });
  }

  /** The users with these ids, in the order given; unknown ids are skipped. */
  async findManyByIds(ids: string[]): Promise<UserEntity[]> {
    if (!ids.length) return [];
    const rows: UserRow[] = await this.dataSource.query(`SELECT ${USER_COLUMNS} FROM users u WHERE u.id = ANY($1::uuid[])`, [ids]);
    const byId = new Map(rows.map((row) => [row.id, toEntity(row)]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  /** Users, in the order given (unknown ids skipped), with the facts that decide whether the viewer sees their presence: one statement. */
  async findManyWithRules(viewerId: string, userIds: string[]): Promise<Array<{ user: UserEntity; rule: PresenceRule }>> {
    if (!userIds.length) return [];
    const rows = await preparedQuery<UserWithRuleRow[]>(this.dataSource.manager, 'users.with-rules-by-ids', WITH_RULES_BY_IDS_SQL, [userIds, viewerId]);
    const byId = new Map(rows.map((r) => [r.id, userWithRule(r)]));
    return userIds.flatMap((id) => byId.get(id) ?? []);
  }

  /** The user with this nickname, in any case, with their stored showAvatar (undefined when never set); null when there is none. */
  async findByNicknameWithAvatarLevel(nickname: string): Promise<{ user: UserEntity; avatarLevel: unknown } | null> {
    const rows: Array<UserRow & { avatar_level: unknown }> = await this.dataSource.query(
      `SELECT ${USER_COLUMNS}, s.settings -> 'showAvatar' AS avatar_level
         FROM users u LEFT JOIN user_settings s ON s.user_id = u.id
        WHERE lower(u.nickname) = lower($1)`,
      [nickname],
    );
    return rows[0] ? { user: toEntity(rows[0]), avatarLevel: rows[0].avatar_level ?? undefined } : null;
  }

  /** What decides which of `viewerIds` see the user's avatar: their stored showAvatar (undefined when never set) and which viewers are in their contacts. */
  async avatarRule(userId: string, viewerIds: string[]): Promise<{ level: unknown; contactIds: string[] }> {
    const [row] = (await this.dataSource.query(
      `SELECT (SELECT s.settings -> 'showAvatar' FROM user_settings s WHERE s.user_id = $1) AS level,
              ARRAY(SELECT c.contact_id FROM contacts c WHERE c.owner_id = $1 AND c.contact_id = ANY($2::uuid[])) AS contact_ids`,
      [userId, viewerIds],
    )) as Array<{ level: unknown; contact_ids: string[] }>;
    return { level: row.level ?? undefined, contactIds: row.contact_ids };
  }

  async exists(id: string, tx: EntityManager = this.dataSource.manager): Promise<boolean> {
    const rows: unknown[] = await tx.query(`SELECT 1 FROM users WHERE id = $1`, [id]);
    return rows.length > 0;
  }

  async isNicknameTaken(nickname: string, exceptUserId?: string, tx: EntityManager = this.dataSource.manager): Promise<boolean> {
    const rows: unknown[] = await tx.query(
      `SELECT 1 FROM users WHERE lower(nickname) = lower($1) AND ($2::uuid IS NULL OR id <> $2::uuid) LIMIT 1`,
      [nickname, exceptUserId ?? null],
    );
    return rows.length > 0;
  }

  /** Inserts the user and their settings row; a unique violation surfaces as the driver error. */
  async create(tx: EntityManager, data: { email: string; nickname: string }): Promise<UserEntity> {
    const now = new Date();
    const user = tx.create(UserEntity, { id: newId(), email: data.email, nickname: data.nickname, firstName: null, lastName: null, avatar: null, bio: null, lastOnlineAt: null, createdAt: now, updatedAt: now });
    await tx.insert(UserEntity, user);
    await tx.insert(UserSettingsEntity, { userId: user.id, settings: {}, updatedAt: now });
    return user;
  }

  /** The user's avatar URL as stored, the row locked until the transaction ends. */
  async lockAvatar(tx: EntityManager, userId: string): Promise<string | null> {
    const [row] = (await tx.query(`SELECT avatar FROM users WHERE id = $1 FOR NO KEY UPDATE`, [userId])) as Array<{ avatar: string | null }>;
    return row?.avatar ?? null;
  }

  /** Applies profile changes; resolves the updated user, or null when the user is gone. */
  async updateProfile(userId: string, changes: ProfileChanges, tx: EntityManager = this.dataSource.manager): Promise<UserEntity | null> {
    const columns: Record<keyof ProfileChanges, string> = { nickname: 'nickname', firstName: 'first_name', lastName: 'last_name', avatar: 'avatar', bio: 'bio' };
    const keys = Object.keys(changes) as Array<keyof ProfileChanges>;
    const assignments = keys.map((key, index) => `${columns[key]} = $${index + 2}`);
    const rows = returned<UserRow>(
      await tx.query(
        `UPDATE users u SET ${[...assignments, 'updated_at = now()'].join(', ')} WHERE u.id = $1 RETURNING ${USER_COLUMNS}`,
        [userId, ...keys.map((key) => changes[key])],
      ),
    );
    return rows[0] ? toEntity(rows[0]) : null;
  }

  // ---- settings

  async settingsOf(userId: string): Promise<Record<string, unknown>> {
    const row = await this.dataSource.getRepository(UserSettingsEntity).findOneBy({ userId });
    return row?.settings ?? {};
  }

  /** The stored settings document, its row locked until the transaction ends (created when missing). */
  async lockSettings(tx: EntityManager, userId: string): Promise<Record<string, unknown>> {
    await tx.query(`INSERT INTO user_settings (user_id) VALUES ($1) ON CONFLICT (user_id) DO NOTHING`, [userId]);
    const [row] = (await tx.query(`SELECT settings FROM user_settings WHERE user_id = $1 FOR UPDATE`, [userId])) as Array<{ settings: Record<string, unknown> }>;
    return row.settings;
  }

  async saveSettings(tx: EntityManager, userId: string, settings: Record<string, unknown>): Promise<void> {
    await tx.query(`UPDATE user_settings SET settings = $2::jsonb, updated_at = now() WHERE user_id = $1`, [userId, JSON.stringify(settings)]);
  }

  /** For each target: the inputs of its presence and avatar privacy towards one viewer, in one round trip. */
  async presenceRules(targetIds: string[], viewerId: string): Promise<PresenceRule[]> {
    if (!targetIds.length) return [];
    const rows: Array<{ id: string; level: unknown; avatar_level: unknown; viewer_is_contact: boolean; blocked: boolean }> = await this.dataSource.query(
      `SELECT t.id,
              s.settings -> 'showOnlineStatus' AS level,
              s.settings -> 'showAvatar' AS avatar_level,
              EXISTS (SELECT 1 FROM contacts c WHERE c.owner_id = t.id AND c.contact_id = $2) AS viewer_is_contact,
              t.id IN (${blockedWithSql('$2')}) AS blocked
         FROM unnest($1::uuid[]) AS t(id)
         LEFT JOIN user_settings s ON s.user_id = t.id`,
      [targetIds, viewerId],
    );
    return rows.map((r) => ({ id: r.id, level: r.level ?? undefined, avatarLevel: r.avatar_level ?? undefined, viewerIsContact: r.viewer_is_contact, blocked: r.blocked }));
  }

  // ---- search

  /** Nicknames starting with `query` (served by users_nickname_lower_prefix_idx), alphabetical. */
  async searchByPrefix(callerId: string, query: string, limit: number): Promise<UserEntity[]> {
    const rows: UserRow[] = await this.dataSource.query(
      `SELECT ${USER_COLUMNS} FROM users u
        WHERE lower(u.nickname) LIKE $2 AND u.id <> $1
          AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = u.id AND b.blocked_id = $1)
        ORDER BY lower(u.nickname) LIMIT $3`,
      [callerId, `${likeLiteral(query.toLowerCase())}%`, limit],
    );
    return rows.map(toEntity);
  }

  /**
   * Nicknames containing but not starting with `query` (3 characters or more: see
   * UsersService.search), alphabetical. The trigram index finds the matches (the CTE pins that
   * plan: without it the planner may walk the whole nickname index hoping for early matches,
   * e.g. when every hit is also a prefix hit).
   */
  async searchContaining(callerId: string, query: string, limit: number): Promise<UserEntity[]> {
    const literal = likeLiteral(query.toLowerCase());
    const sql = `WITH hits AS MATERIALIZED (
       SELECT ${USER_COLUMNS} FROM users u
        WHERE lower(u.nickname) LIKE $2 AND lower(u.nickname) NOT LIKE $3 AND u.id <> $1
          AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = u.id AND b.blocked_id = $1)
     ) SELECT * FROM hits u ORDER BY lower(u.nickname) LIMIT $4`;
    const rows: UserRow[] = await this.dataSource.query(sql, [callerId, `%${literal}%`, `${literal}%`, limit]);
    return rows.map(toEntity);
  }

  // ---- blocks

  /**
   * For each of `userIds` that exists: whether they blocked `inviterId`, and what their
   * allowGroupInvites says of the inviter (their stored level, and whether the inviter is in
   * their contacts). One statement however many are invited.
   */
  async groupInviteFacts(inviterId: string, userIds: string[]): Promise<GroupInviteFacts[]> {
    if (!userIds.length) return [];
    return (await this.dataSource.query(
      `SELECT u.id, u.nickname, u.first_name AS "firstName", u.last_name AS "lastName",
              s.settings -> 'allowGroupInvites' AS level,
              EXISTS (SELECT 1 FROM contacts c WHERE c.owner_id = u.id AND c.contact_id = $2) AS "inviterIsContact",
              EXISTS (SELECT 1 FROM blocks bk WHERE bk.blocker_id = u.id AND bk.blocked_id = $2) AS "blockedInviter"
         FROM users u LEFT JOIN user_settings s ON s.user_id = u.id WHERE u.id = ANY($1::uuid[])`,
      [userIds, inviterId],
    )) as GroupInviteFacts[];
  }


  async hasBlocked(blockerId: string, blockedId: string, tx: EntityManager = this.dataSource.manager): Promise<boolean> {
    const rows: unknown[] = await tx.query(`SELECT 1 FROM blocks WHERE blocker_id = $1 AND blocked_id = $2`, [blockerId, blockedId]);
    return rows.length > 0;
  }

  /**
   * Whether a block stands, either way, between the user and another member of the chat; in `tx`
   * when the caller is inside a transaction (on the embedded database, which has one connection,
   * a read on another would wait for that transaction to end).
   */
  async blockedInChat(chatId: string, userId: string, tx: EntityManager = this.dataSource.manager): Promise<boolean> {
    const [row] = (await tx.query(
      `SELECT EXISTS (SELECT 1 FROM chat_members o WHERE o.chat_id = $1 AND o.user_id IN (${blockedWithSql('$2')})) AS blocked`,
      [chatId, userId],
    )) as Array<{ blocked: boolean }>;
    return row.blocked;
  }

  /** Of `candidates`, those with a block between them and the user, either way. */
  async blockedAmong(userId: string, candidates: string[]): Promise<string[]> {
    const rows = (await this.dataSource.query(`SELECT id FROM (${blockedWithSql('$1', '$2::uuid[]')}) AS x(id)`, [userId, candidates])) as Array<{ id: string }>;
    return rows.map((r) => r.id);
  }

  async isBlockedEitherWay(a: string, b: string, tx: EntityManager = this.dataSource.manager): Promise<boolean> {
    const rows: unknown[] = await tx.query(
      `SELECT 1 FROM blocks WHERE (blocker_id = $1 AND blocked_id = $2) OR (blocker_id = $2 AND blocked_id = $1) LIMIT 1`,
      [a, b],
    );
    return rows.length > 0;
  }

  /** Idempotent: true when the block is stored, now or before; false, storing nothing, when the blocker keeps `max` already. */
  block(blockerId: string, blockedId: string, max: number): Promise<boolean> {
    return insertLinkWithinCap(this.dataSource, BLOCKS, blockerId, blockedId, max);
  }

  async unblock(blockerId: string, blockedId: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM blocks WHERE blocker_id = $1 AND blocked_id = $2`, [blockerId, blockedId]);
  }

  /** The ids of listBlocked, in its order, without reading the users. */
  async listBlockedIds(blockerId: string): Promise<string[]> {
    const rows: Array<{ id: string }> = await this.dataSource.query(`SELECT blocked_id::text AS id FROM blocks WHERE blocker_id = $1 ORDER BY created_at DESC, blocked_id`, [blockerId]);
    return rows.map((row) => row.id);
  }

  /** Users this user has blocked, most recent first. */
  async listBlocked(blockerId: string): Promise<UserEntity[]> {
    const rows: UserRow[] = await this.dataSource.query(
      `SELECT ${USER_COLUMNS} FROM blocks b JOIN users u ON u.id = b.blocked_id WHERE b.blocker_id = $1 ORDER BY b.created_at DESC, u.id`,
      [blockerId],
    );
    return rows.map(toEntity);
  }

  // ---- chats, as far as profiles and account deletion need them

  /** Whether `otherId` is one of chatPartnerIds(`userId`) (the audience of user:updated, for one user). */
  async sharesChat(userId: string, otherId: string): Promise<boolean> {
    const [row] = (await this.dataSource.query(`SELECT EXISTS (SELECT 1 ${CHAT_PARTNERS_OF_$1} AND other.user_id = $2) AS shares`, [userId, otherId])) as Array<{
      shares: boolean;
    }>;
    return row.shares;
  }

  /**
   * Everyone who shares at least one chat with this user and can see it, the user excluded: the
   * target of a direct chat that has no message yet does not know of it, so hears nothing through it.
   */
  async chatPartnerIds(userId: string): Promise<string[]> {
    const rows: Array<{ user_id: string }> = await this.dataSource.query(`SELECT DISTINCT other.user_id ${CHAT_PARTNERS_OF_$1}`, [userId]);
    return rows.map((r) => r.user_id);
  }

  /** Up to `limit` accounts unused for their autoDeleteMonths at `now` (see INACTIVE_SQL), the longest unused first, but those `except`. */
  async inactiveAccounts(now: Date, limit: number, except: string[] = []): Promise<string[]> {
    const rows = (await this.dataSource.query(
      `SELECT u.id FROM users u JOIN user_settings s ON s.user_id = u.id WHERE ${INACTIVE_SQL} AND u.id <> ALL($3::uuid[]) ORDER BY u.last_active_at LIMIT $2`,
      [now, limit, except],
    )) as Array<{ id: string }>;
    return rows.map((r) => r.id);
  }

  /** Whether the account is (still) unused for its autoDeleteMonths at `now`. */
  async isInactive(tx: EntityManager, userId: string, now: Date): Promise<boolean> {
    const rows: unknown[] = await tx.query(`SELECT 1 FROM users u JOIN user_settings s ON s.user_id = u.id WHERE u.id = $2 AND ${INACTIVE_SQL}`, [now, userId]);
    return rows.length > 0;
  }

  /**
   * Locks the user's row for the deletion transaction; false when already gone. `NO KEY UPDATE`
   * holds off every other change of the row (and a sign-in's share lock) but not the foreign-key
   * checks of rows that name the user (a send of theirs, under its chat's lock); `UPDATE` holds
   * those off too.
   */
  async lockUser(tx: EntityManager, userId: string, mode: 'NO KEY UPDATE' | 'UPDATE'): Promise<boolean> {
    const rows: unknown[] = await tx.query(`SELECT 1 FROM users WHERE id = $1 FOR ${mode}`, [userId]);
    return rows.length > 0;
  }

  /**
   * The user's memberships, with the rows of their chats and of the chats holding messages of
   * theirs (groups they left) locked in id order first, in a statement of their own: the roles are
   * read after the locks, as committed by whoever held them (see ChatsRepository.membership).
   * Resolves the memberships and every chat locked. With `nowait`, a chat held by another
   * transaction fails the statement at once (isLockNotAvailable) instead of waiting for it.
   */
  async membershipsOf(tx: EntityManager, userId: string, options: { nowait?: boolean } = {}): Promise<{ memberships: Membership[]; chatIds: string[] }> {
    const locked = (await tx.query(
      `SELECT id FROM chats
        WHERE id IN (SELECT chat_id FROM chat_members WHERE user_id = $1 UNION SELECT chat_id FROM messages WHERE sender_id = $1)
        ORDER BY id FOR UPDATE${options.nowait ? ' NOWAIT' : ''}`,
      [userId],
    )) as Array<{ id: string }>;
    const rows: Array<{ chat_id: string; type: Membership['type']; role: Membership['role'] }> = await tx.query(
      `SELECT m.chat_id, c.type, m.role FROM chat_members m JOIN chats c ON c.id = m.chat_id WHERE m.user_id = $1`,
      [userId],
    );
    return { memberships: rows.map((r) => ({ chatId: r.chat_id, type: r.type, role: r.role })), chatIds: locked.map((r) => r.id) };
  }

  /** The media URLs the user's account holds: their uploads, and what their messages show (read before the account goes). */
  async mediaOf(tx: EntityManager, userId: string): Promise<string[]> {
    const rows = (await tx.query(
      `SELECT url FROM uploads WHERE owner_id = $1 UNION SELECT media_url FROM messages WHERE sender_id = $1 AND media_url IS NOT NULL`,
      [userId],
    )) as Array<{ url: string }>;
    return rows.map((r) => r.url);
  }

  /** The other members of these chats, as (chatId, userId) pairs. */
  async otherMembers(tx: EntityManager, chatIds: string[], userId: string): Promise<Array<{ chatId: string; userId: string }>> {
    if (!chatIds.length) return [];
    const rows: Array<{ chat_id: string; user_id: string }> = await tx.query(
      `SELECT chat_id, user_id FROM chat_members WHERE chat_id = ANY($1::uuid[]) AND user_id <> $2`,
      [chatIds, userId],
    );
    return rows.map((r) => ({ chatId: r.chat_id, userId: r.user_id }));
  }

  /**
   * Per chat, the member who would lead it without this user: an existing other owner, else the
   * oldest admin, else the oldest member. Chats missing from the result have no one else.
   */
  async successors(tx: EntityManager, chatIds: string[], userId: string): Promise<Array<{ chatId: string; userId: string; role: Membership['role'] }>> {
    if (!chatIds.length) return [];
    const rows: Array<{ chat_id: string; user_id: string; role: Membership['role'] }> = await tx.query(
      `SELECT DISTINCT ON (chat_id) chat_id, user_id, role FROM chat_members
        WHERE chat_id = ANY($1::uuid[]) AND user_id <> $2
        ORDER BY chat_id, CASE role WHEN 'OWNER' THEN 0 WHEN 'ADMIN' THEN 1 ELSE 2 END, joined_at, id`,
      [chatIds, userId],
    );
    return rows.map((r) => ({ chatId: r.chat_id, userId: r.user_id, role: r.role }));
  }

  async makeOwner(tx: EntityManager, chatId: string, userId: string): Promise<void> {
    await tx.query(`UPDATE chat_members SET role = 'OWNER' WHERE chat_id = $1 AND user_id = $2`, [chatId, userId]);
  }

  /** Deletes chats; members, messages, reactions and listens go by cascade. */
  async deleteChats(tx: EntityManager, chatIds: string[]): Promise<void> {
    if (chatIds.length) await tx.query(`DELETE FROM chats WHERE id = ANY($1::uuid[])`, [chatIds]);
  }

  /**
   * Deletes the user row; sessions, settings, contacts and blocks (both directions), memberships,
   * their messages, reactions and listens go by ON DELETE CASCADE. The sequence numbers of their
   * messages in chats that stay are recorded as deleted first, so they leave the unread counts.
   */
  async deleteUser(tx: EntityManager, userId: string): Promise<void> {
    await tx.query(
      `INSERT INTO deleted_message_seqs (chat_id, seq) SELECT chat_id, seq FROM messages WHERE sender_id = $1 ON CONFLICT DO NOTHING`,
      [userId],
    );
    await tx.query(`DELETE FROM users WHERE id = $1`, [userId]);
  }

  /** Points chats whose last message was deleted at their newest remaining message, and their activity time with it (the chat list's order); no foreign key does it. */
  async repairLastMessages(tx: EntityManager, chatIds: string[]): Promise<void> {
    if (!chatIds.length) return;
    await tx.query(
      `UPDATE chats c
          SET last_message_id = (SELECT m.id FROM messages m WHERE m.chat_id = c.id ORDER BY m.id DESC LIMIT 1),
              last_activity_at = coalesce((SELECT m.created_at FROM messages m WHERE m.chat_id = c.id ORDER BY m.id DESC LIMIT 1), c.created_at)
        WHERE c.id = ANY($1::uuid[]) AND c.last_message_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = c.last_message_id)`,
      [chatIds],
    );
  }
}
