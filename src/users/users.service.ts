import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AppConfig } from '../core/config/app-config';
import { isUuid } from '../core/database/ids';
import { isoFromJsonOrNull } from '../core/database/pg-timestamps';
import { isLockNotAvailable, isUniqueViolation, onForeignKeyGone } from '../core/database/query-results';
import { AppError } from '../core/errors';
import { validationError } from '../core/http/validation';
import { RateLimiter } from '../core/rate-limit/rate-limiter';
import { CloseCode } from '../realtime/client-events';
import { between, PresenceRelations } from '../presence/presence-relations';
import { PresenceStore } from '../realtime/presence/presence-store';
import { RealtimePublisher } from '../realtime/realtime-publisher';
import { EventLog } from '../realtime/event-log/event-log';
import { PresenceView, PublicUserDto, UserDto, toUserDto } from './dto/user.dto';
import { UpdateProfileDto } from './dto/update-profile.dto';
import { UserEntity } from './entities/user.entity';
import { MAX_EXTRA_KEYS, UserSettings, extraKeyCount, normalizedPatch, privacyAllows, privacyLevel, validateSettingsPatch, withDefaults } from './user-settings';
import { NICKNAME_PATTERN } from '../auth/dto/auth.dto';
import { avatarAllowed } from './avatar-privacy';
import { BlockPolicy } from './block-policy';
import { displayName } from './display-name';
import './users.events';
import { UploadsService } from '../uploads/uploads.service';
import { PresenceRule, ProfileChanges, UserFacts, UsersRepository } from './users.repository';

/** Saves of showOnlineStatus or showAvatar per user (each tells every follower or chat partner), as WS_RATE_PRESENCE's default. */
export const PRIVACY_CHANGES_LIMIT = { limit: 30, windowSeconds: 60 };
/** What a nickname is made of (NICKNAME_PATTERN, any order): a search term of anything else finds nobody. */
const NICKNAME_CHARACTERS = /^[a-zA-Z0-9.]+$/;
export const SEARCH_LIMIT = 20;
/** Inactive accounts listed (and deleted, one by one) per round of deleteInactive. */
const INACTIVE_BATCH = 100;
const HIDDEN: PresenceView = { isOnline: false, lastOnline: null };

/** showAvatar towards a viewer (avatar-privacy.ts), from the rule a statement read; no rule read (a row missing) hides it from anyone but its owner. */
function avatarVisible(viewerId: string, ownerId: string, rule: PresenceRule | undefined): boolean {
  return ownerId === viewerId || (!!rule && avatarAllowed(ownerId, viewerId, rule.avatarLevel, rule.viewerIsContact));
}

/** Profiles, privacy-aware presence, settings, blocks, search and account deletion. */
/** See UsersService.onAccountDeletion. */
export type AccountDeletionHook = (tx: EntityManager, userId: string) => Promise<(() => Promise<void>) | void>;

@Injectable()
export class UsersService {
  private readonly deletionHooks: AccountDeletionHook[] = [];

  private readonly logger = new Logger('Users');

  constructor(
    private readonly users: UsersRepository,
    private readonly blocks: BlockPolicy,
    private readonly presence: PresenceStore,
    private readonly realtime: RealtimePublisher,
    private readonly eventLog: EventLog,
    private readonly relations: PresenceRelations,
    private readonly uploads: UploadsService,
    private readonly limiter: RateLimiter,
    private readonly config: AppConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
  ) {}

  findByEmail(email: string, tx?: EntityManager, options?: { share?: boolean }): Promise<UserEntity | null> {
    return this.users.findByEmail(email, tx, options);
  }

  findById(id: string): Promise<UserEntity | null> {
    return this.users.findById(id);
  }

  async assertNicknameFree(nickname: string, exceptUserId?: string, tx?: EntityManager): Promise<void> {
    if (await this.users.isNicknameTaken(nickname, exceptUserId, tx)) throw new AppError('NICKNAME_TAKEN');
  }

  /** Creates the account; a nickname taken by a concurrent sign-up still answers NICKNAME_TAKEN. */
  async create(tx: EntityManager, email: string, nickname: string): Promise<UserEntity> {
    try {
      return await this.users.create(tx, { email, nickname });
    } catch (error) {
      if (isUniqueViolation(error, 'users_nickname_lower_key')) throw new AppError('NICKNAME_TAKEN');
      throw error;
    }
  }

  /** The user's preferred language for mail, when one is known. */
  async localeOf(email: string): Promise<'en' | 'ru' | null> {
    const user = await this.users.findByEmail(email);
    if (!user) return null;
    const locale = (await this.users.settingsOf(user.id)).locale;
    return locale === 'ru' || locale === 'en' ? locale : null;
  }

  /** A user that must exist (malformed ids included) or USER_NOT_FOUND. */
  async requireUser(id: string): Promise<UserEntity> {
    const user = isUuid(id) ? await this.users.findById(id) : null;
    if (!user) throw new AppError('USER_NOT_FOUND');
    return user;
  }

  // ---- profiles

  async me(userId: string): Promise<UserDto> {
    // The row and the presence at once: two round trips in parallel instead of in a row.
    const [user, online] = await Promise.all([this.users.findById(userId), this.presence.online([userId])]);
    if (!user) throw new AppError('USER_NOT_FOUND');
    return toUserDto(user, { isOnline: online.has(userId), lastOnline: user.lastOnlineAt }, { withEmail: true });
  }

  async publicProfile(viewerId: string, targetId: string): Promise<UserDto> {
    const user = await this.requireUser(targetId);
    const [dto] = await this.toPublicDtos(viewerId, [user]);
    return dto;
  }

  /**
   * The profile anyone may see, signed in or not (contract v2.2 §13): the nickname matched in any
   * case, the avatar only when showAvatar is `all` (there is no viewer to be a contact), no
   * presence. Lookups count per client address (RATE_LIMIT_PUBLIC_PROFILE), found or not, so
   * the route cannot be used to walk the nickname space quickly. Blocks do not apply: there is
   * no viewer.
   */
  async publicByNickname(nickname: string, clientScope: string): Promise<PublicUserDto> {
    await this.limiter.require('public-profile', clientScope, this.config.values.publicProfileLimit, 'Too many profile lookups');
    // What cannot be a nickname is nobody's, without a query (and whatever it holds never reaches the database).
    const found = nickname.length <= 32 && NICKNAME_PATTERN.test(nickname) ? await this.users.findByNicknameWithAvatarLevel(nickname) : null;
    if (!found) throw new AppError('USER_NOT_FOUND');
    const { id, firstName, lastName, avatar, bio } = found.user;
    return { id, nickname: found.user.nickname, firstName, lastName, avatar: privacyAllows(found.avatarLevel, false) ? avatar : null, bio };
  }

  /** Public profiles of these users as the viewer may see them, in the order given (unknown ids skipped). */
  async publicProfiles(viewerId: string, userIds: string[]): Promise<UserDto[]> {
    return this.withPresence(viewerId, await this.users.findManyWithRules(viewerId, userIds));
  }

  /**
   * Public profiles as the viewer may see them, from the facts a caller's own statement read
   * (userFactsJsonSql): one presence lookup (none when the caller has `online`, onlineAmong of
   * these users or more), no query, no Date parsed.
   */
  async profilesFromFacts(viewerId: string, facts: UserFacts[], online?: Set<string>): Promise<UserDto[]> {
    const visible = this.visibleTo(
      viewerId,
      facts.map((f) => f.id),
      facts.flatMap((f) => (f.id !== viewerId ? [f.rule] : [])),
    );
    online ??= await this.onlineAmong([...visible]);
    return facts.map((f) => {
      const shown = visible.has(f.id);
      return {
        id: f.id,
        nickname: f.nickname,
        firstName: f.firstName,
        lastName: f.lastName,
        avatar: avatarVisible(viewerId, f.id, f.rule) ? f.avatar : null,
        bio: f.bio,
        isOnline: shown && online.has(f.id),
        lastOnline: shown ? isoFromJsonOrNull(f.lastOnlineAt) : null,
      };
    });
  }

  async updateProfile(userId: string, input: UpdateProfileDto): Promise<UserDto> {
    const changes: ProfileChanges = {};
    for (const key of ['nickname', 'firstName', 'lastName', 'avatar', 'bio'] as const) {
      if (input[key] !== undefined) changes[key] = input[key] as never;
    }
    if (changes.avatar) changes.avatar = await this.uploads.requireOwnedImage(userId, changes.avatar);
    // What is already so is no change: nothing is written and nobody is told (each change reaches every chat partner).
    const current = await this.users.findById(userId);
    if (!current) throw new AppError('USER_NOT_FOUND');
    for (const key of Object.keys(changes) as Array<keyof ProfileChanges>) if (changes[key] === current[key]) delete changes[key];
    if (!Object.keys(changes).length) return this.me(userId);
    if (changes.nickname) await this.assertNicknameFree(changes.nickname, userId);
    // Each change reaches everyone who shares a chat with the user (user:updated, kept in their event logs).
    await this.limiter.require('profile-changes', userId, this.config.values.profileChangesLimit, 'Too many profile changes');
    let updated: { user: UserEntity | null; removeFiles: (() => Promise<void>) | null };
    try {
      updated = await this.dataSource.transaction(async (tx) => {
        // A replaced (or cleared) avatar that nothing else shows is deleted, as a chat's is.
        const previous = changes.avatar !== undefined ? await this.users.lockAvatar(tx, userId) : null;
        if (changes.avatar) await this.uploads.holdOwnedImage(tx, userId, changes.avatar);
        const user = await this.users.updateProfile(userId, changes, tx);
        return { user, removeFiles: user && previous && previous !== user.avatar ? await this.uploads.releaseMedia(tx, [previous]) : null };
      });
    } catch (error) {
      // Two users racing for one nickname: the unique index decides.
      if (isUniqueViolation(error, 'users_nickname_lower_key')) throw new AppError('NICKNAME_TAKEN');
      throw error;
    }
    const { user, removeFiles } = updated;
    if (!user) throw new AppError('USER_NOT_FOUND');
    await removeFiles?.();
    await this.publishSettled(user, profileOf, { toSelf: true });
    return toUserDto(user, await this.ownPresence(user), { withEmail: true });
  }

  /**
   * user:updated with `view` of the user, then the rule of "two changes at once" (see
   * PresenceRelations): the user and their showAvatar are read again, and told once more if
   * either moved since (two profile changes, or a new avatar crossing a showAvatar change, tell
   * theirs in no order between them).
   */
  private async publishSettled(user: UserEntity, view: (user: UserEntity) => Partial<UserDto> & { id: string }, options: { toSelf: boolean }): Promise<void> {
    const told = view(user);
    const level = await this.publishUpdated(told, options);
    const now = await this.users.findById(user.id);
    if (!now) return;
    const levelNow = told.avatar ? (await this.users.avatarRule(user.id, [])).level : undefined;
    if (JSON.stringify(view(now)) !== JSON.stringify(told) || privacyLevel(levelNow) !== privacyLevel(level)) await this.publishUpdated(view(now), options);
  }

  /**
   * `user:updated` (contract v2.2 §13): to everyone who shares a chat with the user and no block
   * separates from them, with the avatar as the user's showAvatar lets each of them see it
   * (`avatar: null` otherwise; `contacts` = the user's own contacts, the rule privacyAllows
   * applies to presence too), and, with `toSelf`, to the user's own sockets as it is. Never email.
   */
  private async publishUpdated(payload: Partial<UserDto> & { id: string }, options: { toSelf: boolean }): Promise<unknown> {
    const userId = payload.id;
    const partners = await this.blocks.audience('user:updated', userId, await this.users.chatPartnerIds(userId));
    let masked: string[] = [];
    let full = partners;
    let level: unknown;
    if (payload.avatar) {
      const rule = await this.users.avatarRule(userId, partners);
      const contacts = new Set(rule.contactIds);
      level = rule.level;
      full = partners.filter((id) => privacyAllows(rule.level, contacts.has(id)));
      masked = partners.filter((id) => !privacyAllows(rule.level, contacts.has(id)));
    }
    const recipients = options.toSelf ? [userId, ...full] : full;
    if (recipients.length) await this.realtime.toUsers(recipients, 'user:updated', payload);
    if (masked.length) await this.realtime.toUsers(masked, 'user:updated', { ...payload, avatar: null });
    // The showAvatar this told by (undefined: the payload carries no avatar).
    return level;
  }


  // ---- presence privacy

  /** Whether the viewer may see the target's online state and last-seen time. */
  async presenceVisibleTo(targetId: string, viewerId: string): Promise<boolean> {
    if (targetId === viewerId) return true;
    const [rule] = await this.users.presenceRules([targetId], viewerId);
    return !!rule && !rule.blocked && privacyAllows(rule.level, rule.viewerIsContact);
  }

  private async ownPresence(user: UserEntity): Promise<PresenceView> {
    const online = await this.presence.online([user.id]);
    return { isOnline: online.has(user.id), lastOnline: user.lastOnlineAt };
  }

  /**
   * Users with the rules the viewer's statement read for them (usersWithRulesSql, presenceRules):
   * presence and avatar as each rule lets the viewer see them, with one presence lookup. A user
   * without a rule (the viewer, or a row the statement missed) is the viewer's own or hidden.
   */
  private async withPresence(viewerId: string, found: Array<{ user: UserEntity; rule?: PresenceRule }>): Promise<UserDto[]> {
    const users = found.map((f) => f.user);
    const views = await this.presenceFromRules(viewerId, users, found.flatMap((f) => (f.rule && f.user.id !== viewerId ? [f.rule] : [])));
    return found.map(({ user, rule }) => toUserDto(user, views.get(user.id) ?? HIDDEN, { hideAvatar: !avatarVisible(viewerId, user.id, rule) }));
  }

  private async presenceFromRules(viewerId: string, users: UserEntity[], rules: PresenceRule[]): Promise<Map<string, PresenceView>> {
    const { visible, online } = await this.visiblePresence(viewerId, users.map((u) => u.id), rules);
    return new Map(users.map((u) => [u.id, visible.has(u.id) ? { isOnline: online.has(u.id), lastOnline: u.lastOnlineAt } : HIDDEN]));
  }

  /** Of `userIds`, those whose presence the rules let the viewer see (the viewer's own always), and which of them are online: one lookup. */
  private async visiblePresence(viewerId: string, userIds: string[], rules: PresenceRule[]): Promise<{ visible: Set<string>; online: Set<string> }> {
    const visible = this.visibleTo(viewerId, userIds, rules);
    return { visible, online: await this.onlineAmong([...visible]) };
  }

  /** Of `userIds`, those whose presence the rules let the viewer see (the viewer's own always). */
  private visibleTo(viewerId: string, userIds: string[], rules: PresenceRule[]): Set<string> {
    const visible = new Set(rules.filter((r) => !r.blocked && privacyAllows(r.level, r.viewerIsContact)).map((r) => r.id));
    if (userIds.includes(viewerId)) visible.add(viewerId);
    return visible;
  }

  /** Which of the users are online, whoever asks (one lookup): for views of many viewers at once, each then showing what its rules allow. */
  async onlineAmong(userIds: string[]): Promise<Set<string>> {
    return userIds.length ? this.presence.online(userIds) : new Set<string>();
  }

  /** Profiles of users read without their rules (search, the blocked list, one profile): one rules query and one presence lookup. */
  private async toPublicDtos(viewerId: string, users: UserEntity[]): Promise<UserDto[]> {
    const others = users.filter((u) => u.id !== viewerId).map((u) => u.id);
    const rules = new Map((await this.users.presenceRules(others, viewerId)).map((r) => [r.id, r]));
    return this.withPresence(viewerId, users.map((user) => ({ user, rule: rules.get(user.id) })));
  }

  // ---- settings

  /** The user's settings over the defaults: every known field present, plus the client's own keys. */
  async settingsOf(userId: string): Promise<UserSettings> {
    return withDefaults(await this.users.settingsOf(userId));
  }

  /**
   * Merges a partial update into the stored document (row-locked, so concurrent devices do not
   * lose keys). A change to showOnlineStatus tells the user's followers what it changed for them.
   * Saves carrying showOnlineStatus or showAvatar count against PRIVACY_CHANGES_LIMIT (429 RATE_LIMIT past it).
   */
  async updateSettings(userId: string, patch: unknown): Promise<UserSettings> {
    const errors = validateSettingsPatch(patch);
    if (Object.keys(errors).length) throw validationError(errors);
    const changes = normalizedPatch(patch as Record<string, unknown>);
    if ('showOnlineStatus' in changes || 'showAvatar' in changes) {
      // Each change of these reaches every follower or chat partner (online/offline, user:updated): budgeted as presence:away/back are.
      await this.limiter.require('privacy-changes', userId, PRIVACY_CHANGES_LIMIT, 'Too many privacy changes');
    }
    let avatarLevelBefore: unknown;
    const save = () =>
      this.dataSource.transaction(async (tx) => {
        const stored = await this.users.lockSettings(tx, userId);
        avatarLevelBefore = stored.showAvatar;
        const next = { ...stored, ...changes };
        if (extraKeyCount(next) > MAX_EXTRA_KEYS) throw validationError({ settings: [`at most ${MAX_EXTRA_KEYS} custom settings are kept`] });
        await this.users.saveSettings(tx, userId, next);
        return next;
      });
    const saved = withDefaults('showOnlineStatus' in changes ? await this.relations.aroundSettingOf(userId, save) : await save());
    if ('showAvatar' in changes && privacyLevel(avatarLevelBefore) !== saved.showAvatar) await this.avatarRuleChanged(userId);
    return saved;
  }

  /**
   * `ownerId` added or removed `viewerId` as a contact: when the owner shows their avatar to
   * contacts only, the viewer (sharing a chat, no block between them) learns it as they may now
   * see it, as a showAvatar change tells it. Read once more after telling, and told again if a
   * change at the same moment moved it (see PresenceRelations).
   */
  async contactChanged(ownerId: string, viewerId: string): Promise<void> {
    const told = await this.avatarAsSeenBy(ownerId, viewerId);
    if (told === undefined) return;
    await this.realtime.toUsers([viewerId], 'user:updated', { id: ownerId, avatar: told });
    const now = await this.avatarAsSeenBy(ownerId, viewerId);
    if (now !== undefined && now !== told) await this.realtime.toUsers([viewerId], 'user:updated', { id: ownerId, avatar: now });
  }

  /** The owner's avatar as the viewer may see it (null: hidden), or undefined when a contact change tells them nothing (see contactChanged). */
  private async avatarAsSeenBy(ownerId: string, viewerId: string): Promise<string | null | undefined> {
    const owner = await this.users.findById(ownerId);
    if (!owner?.avatar) return undefined;
    const rule = await this.users.avatarRule(ownerId, [viewerId]);
    if (privacyLevel(rule.level) !== 'contacts') return undefined;
    if (!(await this.users.sharesChat(ownerId, viewerId))) return undefined;
    if (!(await this.blocks.audience('user:updated', ownerId, [viewerId])).length) return undefined;
    return privacyAllows(rule.level, rule.contactIds.includes(viewerId)) ? owner.avatar : null;
  }

  /** showAvatar changed: everyone sharing a chat learns the avatar as they may now see it (the web client shows what user:updated last said). */
  private async avatarRuleChanged(userId: string): Promise<void> {
    const user = await this.users.findById(userId);
    if (user?.avatar) await this.publishSettled(user, ({ id, avatar }) => ({ id, avatar }), { toSelf: false });
  }

  // ---- blocks

  hasBlocked(blockerId: string, blockedId: string, tx?: EntityManager): Promise<boolean> {
    return this.users.hasBlocked(blockerId, blockedId, tx);
  }

  /**
   * Refuses adding `userIds` to a group by `inviterId` (creating it, or adding members):
   * USER_NOT_FOUND for unknown ids, BLOCKED when one of them blocked the inviter, and
   * `PRIVACY_GROUP_INVITE:<display names>` (wire-contract-v2.2 §18.6) for those whose
   * allowGroupInvites does not admit the inviter.
   */
  async assertInvitable(inviterId: string, userIds: string[]): Promise<void> {
    const facts = await this.users.groupInviteFacts(inviterId, userIds);
    const known = new Set(facts.map((f) => f.id));
    const missing = userIds.filter((id) => !known.has(id));
    if (missing.length) throw new AppError('USER_NOT_FOUND', `Unknown users: ${missing.join(', ')}`);
    if (facts.some((f) => f.blockedInviter)) throw new AppError('BLOCKED');
    const order = new Map(userIds.map((id, i) => [id, i]));
    const refusing = facts.filter((f) => !privacyAllows(f.level ?? 'all', f.inviterIsContact)).sort((a, b) => order.get(a.id)! - order.get(b.id)!);
    if (refusing.length) {
      const names = refusing.map((f) => displayName(f.nickname, f.firstName, f.lastName)).join(', ');
      throw AppError.qualified('PRIVACY_GROUP_INVITE', names, `${names} do not allow you to add them to groups`);
    }
  }

  isBlockedEitherWay(a: string, b: string, tx?: EntityManager): Promise<boolean> {
    return this.users.isBlockedEitherWay(a, b, tx);
  }

  /**
   * Idempotent; the blocked user is not told, beyond what no longer reaching each other means:
   * a side that saw the other's presence gets user:offline and nothing more. At most BLOCKS_MAX
   * (the blocked list is answered whole): past it BLOCKS_LIMIT, nothing stored, nobody told.
   */
  async block(blockerId: string, targetId: string): Promise<void> {
    await this.requireOther(blockerId, targetId);
    const max = this.config.values.blocksMax;
    const stored = await this.relations.around(between([blockerId], [targetId]), () => this.referencing(() => this.users.block(blockerId, targetId, max)));
    if (!stored) throw new AppError('BLOCKS_LIMIT', `At most ${max} users can be blocked; unblock some to block others`);
  }

  /** Idempotent; each side that may see the other's presence again gets its current state. */
  async unblock(blockerId: string, targetId: string): Promise<void> {
    await this.requireOther(blockerId, targetId);
    await this.users.unblock(blockerId, targetId);
    await this.relations.started(between([blockerId], [targetId]));
  }

  /** The ids of blockedUsers, in its order: what the web client asks for on every profile it opens. */
  blockedIds(userId: string): Promise<string[]> {
    return this.users.listBlockedIds(userId);
  }

  async blockedUsers(userId: string): Promise<UserDto[]> {
    return this.toPublicDtos(userId, await this.users.listBlocked(userId));
  }

  /** Someone other than the caller who exists: CANNOT_TARGET_SELF or USER_NOT_FOUND otherwise. */
  async requireOther(callerId: string, targetId: string): Promise<void> {
    if (targetId === callerId) throw new AppError('CANNOT_TARGET_SELF');
    if (!isUuid(targetId) || !(await this.users.exists(targetId))) throw new AppError('USER_NOT_FOUND');
  }

  /**
   * Runs `write`, a row that references the target (a block, a contact), once requireOther
   * passed; a target who deleted their account between the check and the write (a foreign-key
   * violation) is USER_NOT_FOUND too.
   */
  async writeAboutOther<T>(callerId: string, targetId: string, write: () => Promise<T>): Promise<T> {
    await this.requireOther(callerId, targetId);
    return this.referencing(write);
  }

  /** Runs a write that references a user requireOther found: their account deleted meanwhile (a foreign-key violation) is USER_NOT_FOUND. */
  private referencing<T>(write: () => Promise<T>): Promise<T> {
    return onForeignKeyGone(write(), () => new AppError('USER_NOT_FOUND'));
  }

  // ---- search

  /** Prefix matches first, then other matches, alphabetical within each; never the caller or someone who blocked them. */
  async search(callerId: string, query: string): Promise<UserDto[]> {
    // A character no nickname holds (NICKNAME_PATTERN) matches nobody: answered without reading every row to find that out.
    if (!NICKNAME_CHARACTERS.test(query)) return [];
    const prefix = await this.users.searchByPrefix(callerId, query, SEARCH_LIMIT);
    // Inside a nickname from 3 characters (the trigram index finds those); a shorter part has no
    // trigram, and looking for it inside every nickname reads the whole table when few match.
    const rest = prefix.length < SEARCH_LIMIT && [...query].length >= 3 ? await this.users.searchContaining(callerId, query, SEARCH_LIMIT - prefix.length) : [];
    return this.toPublicDtos(callerId, [...prefix, ...rest]);
  }

  // ---- account deletion

  /**
   * Lets another feature take part in deleting an account: the hook runs inside the deletion's
   * transaction, before the user row goes (so it can still read what belongs to the user), and
   * may return work to run after commit (events, file removal).
   */
  onAccountDeletion(hook: AccountDeletionHook): void {
    this.deletionHooks.push(hook);
  }

  /**
   * The accounts whose `autoDeleteMonths` (§15) has passed since they were last used, deleted as
   * DELETE /api/users/me deletes one, `batch` at a time until none is left; resolves how many
   * went. An account used again after it was listed is left (checked under its lock).
   */
  async deleteInactive(now: Date, batch = INACTIVE_BATCH): Promise<number> {
    let deleted = 0;
    // Accounts whose deletion failed in this run are not listed again (they would fill every batch).
    const failed: string[] = [];
    for (;;) {
      const ids = await this.users.inactiveAccounts(now, batch, failed);
      let gone = 0;
      for (const id of ids) {
        try {
          if (await this.deleteAccount(id, { inactiveAt: now })) gone++;
        } catch (error) {
          // Deleted meanwhile (by the user, or another instance's run): nothing to do. Any other
          // failure is this account's alone: the others are deleted all the same.
          if (!(error instanceof AppError && error.code === 'USER_NOT_FOUND')) {
            failed.push(id);
            this.logger.warn(`inactive account ${id} not deleted: ${(error as Error).message}`);
          }
        }
      }
      deleted += gone;
      if (ids.length < batch) return deleted;
    }
  }

  /**
   * Deletes the account and everything of it in one transaction. Direct and secret chats with
   * the user go (their other members get `chat:deleted`); groups they owned pass to the oldest
   * admin, else the oldest member, and groups left empty are deleted. Then their sockets close
   * and their event log goes.
   * With `inactiveAt`, only if the account is still unused for its autoDeleteMonths at that time
   * (false: it was used again, and stays).
   */
  async deleteAccount(userId: string, options: { inactiveAt?: Date } = {}): Promise<boolean> {
    // Its followers are told it went offline: its sockets' closing, after the commit, finds none.
    return this.relations.aroundDeletionOf(userId, () => this.deleteAccountNow(userId, options));
  }

  private async deleteAccountNow(userId: string, options: { inactiveAt?: Date }): Promise<boolean> {
    // Before the files are queued for removal (checked again under the lock below).
    if (options.inactiveAt && !(await this.users.isInactive(this.dataSource.manager, userId, options.inactiveAt))) return false;
    // Queued first: the job waits until the account is really gone, so a rolled-back deletion keeps its files.
    const queued = new Set(await this.uploads.deleteAllOf(userId));
    const afterCommit: Array<() => Promise<void>> = [];
    const deletedChats = await retryWhileLockNotAvailable(() => this.dataSource.transaction(async (tx) => {
      // What an attempt that started again had queued is not run.
      afterCommit.length = 0;
      if (!(await this.users.lockUser(tx, userId, 'NO KEY UPDATE'))) throw new AppError('USER_NOT_FOUND');
      if (options.inactiveAt && !(await this.users.isInactive(tx, userId, options.inactiveAt))) return null;
      // Their chats are locked before their row is for good, in the order a send takes them (its
      // chat, then the sender's row for its foreign key): a send of theirs in flight finishes first
      // instead of deadlocking with the deletion. Read again once the row is held: a chat opened
      // with them meanwhile is theirs too, and one held by a send of theirs now would wait for
      // this while this waits for it, so it is not waited for: the deletion starts again.
      await this.users.membershipsOf(tx, userId);
      await this.users.lockUser(tx, userId, 'UPDATE');
      // An upload stored between the listing above and the lock is on disk too.
      await this.uploads.deleteAllOf(userId, { tx, except: queued });
      const { memberships, chatIds: touchedChats } = await this.users.membershipsOf(tx, userId, { nowait: true });
      const pairChats = memberships.filter((m) => m.type !== 'GROUP').map((m) => m.chatId);
      const groups = memberships.filter((m) => m.type === 'GROUP');
      const successors = new Map((await this.users.successors(tx, groups.map((g) => g.chatId), userId)).map((s) => [s.chatId, s]));
      const emptyGroups: string[] = [];
      for (const group of groups) {
        const successor = successors.get(group.chatId);
        if (!successor) emptyGroups.push(group.chatId);
        // Whatever this user's role: a group whose only owner they are (or that has none) gets one.
        else if (successor.role !== 'OWNER') await this.users.makeOwner(tx, group.chatId, successor.userId);
      }
      const notify = await this.users.otherMembers(tx, pairChats, userId);
      for (const hook of this.deletionHooks) {
        const after = await hook(tx, userId);
        if (after) afterCommit.push(after);
      }
      // The other members' media in the chats that go, and the user's own uploads and media: each
      // deleted unless something that stays shows it (a forwarded copy, a group's avatar), which
      // keeps it, ownerless.
      const deleted = new Set([...pairChats, ...emptyGroups]);
      const media = [...(await this.uploads.mediaOfChats(tx, [...deleted])), ...(await this.users.mediaOf(tx, userId))];
      await this.users.deleteChats(tx, [...deleted]);
      await this.users.deleteUser(tx, userId);
      // Their messages went from every chat they wrote in, groups they left included.
      await this.users.repairLastMessages(tx, touchedChats.filter((id) => !deleted.has(id)));
      afterCommit.push(await this.uploads.releaseMedia(tx, media));
      return notify;
    }));
    if (!deletedChats) return false;
    for (const { chatId, userId: memberId } of deletedChats) await this.realtime.toUsers([memberId], 'chat:deleted', { chatId });
    await this.realtime.disconnect({ userIds: [userId] }, CloseCode.AuthFailed, 'account deleted');
    // Their own log (messages, chats with their members' profiles) goes with them, not a day later.
    await this.eventLog.drop(userId);
    // Each on its own: one that fails (an announcement Redis refused) leaves the others, the
    // removal of the files among them, to run.
    for (const run of afterCommit) await run().catch((error: Error) => this.logger.warn(`after deleting an account: ${error.message}`));
    return true;
  }
}

/** What user:updated carries of a user's profile. */
function profileOf(user: UserEntity): Partial<UserDto> & { id: string } {
  const { id, nickname, firstName, lastName, avatar, bio } = user;
  return { id, nickname, firstName, lastName, avatar, bio };
}

/** Runs `work` (a transaction) again, up to three times in all, while it fails on a NOWAIT lock another transaction held. */
async function retryWhileLockNotAvailable<T>(work: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt === 3 || !isLockNotAvailable(error)) throw error;
    }
  }
}
