import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { isUuid } from '../core/database/ids';
import { onForeignKeyGone } from '../core/database/query-results';
import { AppError } from '../core/errors';
import { between, PresenceRelations } from '../presence/presence-relations';
import { RealtimePublisher } from '../realtime/realtime-publisher';
import { KeysService } from '../keys/keys.service';
import { storedNameFromUrl } from '../uploads/upload-names';
import { UploadsService } from '../uploads/uploads.service';
import { UsersService } from '../users/users.service';
import { BlockPolicy } from '../users/block-policy';
import { AuthContext } from '../auth/auth-context';
import { AppConfig } from '../core/config/app-config';
import { RateLimiter } from '../core/rate-limit/rate-limiter';
import './chat-events';
import { GroupEvents, SystemMessagePublication, SystemMessages } from '../messages/system-messages';
import { ChatAction, decide, Refusal } from './chat-policy';
import { ChatViews } from './chat-views';
import { ChatsRepository, ListPosition, MAX_PINNED_CHATS, Membership, MUTED_FOREVER } from './chats.repository';
import { ArchiveStateDto, ChatDto, MemberLeftDto, ChatPageDto, ChatUpdateDto, DraftClearedDto, DraftDto, MuteStateDto, PinStateDto } from './dto/chat.dto';
import { AddMembersDto, ChatListQuery, GroupChatDto, SaveDraftDto, UpdateChatDto } from './dto/chat-requests.dto';
import { ChatType } from './entities/chat.entity';
import { ChatRole } from './entities/chat-member.entity';

export const MAX_GROUP_MEMBERS = 200;

/**
 * Chats and their members: who may see, change and join what. Anyone who is not a (visible)
 * member gets CHAT_NOT_FOUND, never a hint that the chat exists.
 */
/** Chat event frames (each a whole chat) handed to the bus at once when a chat event goes to many members. */
const PUBLISH_CHAT_CONCURRENCY = 4;

@Injectable()
export class ChatsService implements OnModuleInit {
  private readonly logger = new Logger('Chats');

  constructor(
    private readonly chats: ChatsRepository,
    private readonly views: ChatViews,
    private readonly users: UsersService,
    private readonly keys: KeysService,
    private readonly uploads: UploadsService,
    private readonly realtime: RealtimePublisher,
    private readonly relations: PresenceRelations,
    private readonly systemMessages: SystemMessages,
    private readonly blocks: BlockPolicy,
    private readonly limiter: RateLimiter,
    private readonly config: AppConfig,
  ) {}

  /**
   * Group changes reach every member (an event each, kept in their event logs, and a SYSTEM
   * message for most): one user's are budgeted, creations apart (each reaches up to 199 chat lists).
   * Counted once the change is known to be one and allowed, inside its transaction where there is
   * one (a refusal rolls it back): a save of what is there, or a request refused for another
   * reason, costs nothing. A join by link counts too (InviteLinksService); a leave never does, so
   * that anyone can always get out.
   */
  async countGroupChange(userId: string, kind: 'group-create' | 'group-changes'): Promise<void> {
    const limit = kind === 'group-create' ? this.config.values.groupCreateLimit : this.config.values.groupChangesLimit;
    await this.limiter.require(kind, userId, limit, kind === 'group-create' ? 'Too many groups created' : 'Too many group changes');
  }

  /**
   * When an account goes, the groups it leaves behind tell their remaining members: those it was
   * in, and those it had left whose last message was its own (they show an older one now).
   */
  onModuleInit(): void {
    this.users.onAccountDeletion(async (tx, userId) => {
      const groups = new Set([...(await this.chats.groupsOf(tx, userId)), ...(await this.chats.groupsEndingWith(tx, userId))]);
      return async () => {
        for (const chatId of groups) {
          const members = await this.chats.memberIds(chatId);
          if (members.length) await this.publishChat(members, chatId, 'chat:updated');
        }
      };
    });
  }

  /** The caller's visible membership of a chat, or CHAT_NOT_FOUND. */
  async requireMember(chatId: string, userId: string): Promise<Membership> {
    const membership = isUuid(chatId) ? await this.chats.membership(chatId, userId) : null;
    if (!membership || !membership.visible) throw new AppError('CHAT_NOT_FOUND');
    return membership;
  }

  /** A member's role in a chat, or null when they are not a member. */
  async roleOf(chatId: string, userId: string, tx?: EntityManager): Promise<ChatRole | null> {
    return (await this.chats.membership(chatId, userId, tx))?.role ?? null;
  }

  /**
   * The caller's membership with the chat's row locked for the rest of `tx` (null when they are
   * not a visible member): what is decided on it holds until the commit.
   */
  async lockedMembership(chatId: string, userId: string, tx: EntityManager): Promise<Membership | null> {
    const membership = await this.chats.membership(chatId, userId, tx, { lock: true });
    return membership?.visible ? membership : null;
  }

  memberIds(chatId: string): Promise<string[]> {
    return this.chats.memberIds(chatId);
  }

  /** The members who can see the chat: all of them, but the target of a direct chat with no message yet. */
  visibleMemberIds(chatId: string): Promise<string[]> {
    return this.chats.visibleMemberIds(chatId);
  }

  /** Finds or opens the DIRECT (or SECRET) chat of a pair. The target sees it only once a message arrives. */
  async openPair(auth: AuthContext, targetUserId: string, type: Extract<ChatType, 'DIRECT' | 'SECRET'>): Promise<ChatDto> {
    if (targetUserId === auth.userId) throw new AppError('CANNOT_TARGET_SELF');
    if (!(await this.users.findById(targetUserId))) throw new AppError('USER_NOT_FOUND');
    if (await this.users.isBlockedEitherWay(auth.userId, targetUserId)) throw new AppError('BLOCKED');
    // A secret chat starts with a Signal session built from the target's bundle: without one it cannot start.
    if (type === 'SECRET' && !(await this.keys.hasBundle(targetUserId))) {
      throw new AppError('BUNDLE_NOT_FOUND', 'This user has not published encryption keys yet', {}, 409);
    }
    for (let attempt = 1; ; attempt++) {
      // USER_NOT_FOUND when the target's account deletion, holding their row, commits first.
      const { chatId } = await userStillThere(this.chats.transaction((tx) => this.chats.findOrCreatePair(tx, type, auth.userId, targetUserId)));
      // The creator now shows the target's status (the target follows the creator once a message reveals the chat).
      await this.relations.started(between([auth.userId], [targetUserId]));
      const view = await this.views.one(auth.userId, chatId);
      if (view) return view;
      // The pair's chat went right after it was found (its other member left, which deletes it): opened afresh.
      if (attempt === 3) throw new AppError('CHAT_NOT_FOUND');
    }
  }

  /** The chat as the caller now sees it, after a change of theirs: CHAT_NOT_FOUND when it went (or they left it) right after the change committed. */
  private async viewOf(userId: string, chatId: string): Promise<ChatDto> {
    const view = await this.views.one(userId, chatId);
    if (!view) throw new AppError('CHAT_NOT_FOUND');
    return view;
  }

  async createGroup(auth: AuthContext, input: GroupChatDto): Promise<ChatDto> {
    const memberIds = [...new Set(input.memberIds)].filter((id) => id !== auth.userId);
    if (memberIds.length + 1 > MAX_GROUP_MEMBERS) throw new AppError('GROUP_LIMIT_EXCEEDED');
    await this.users.assertInvitable(auth.userId, memberIds);
    const avatar = input.avatar ? await this.uploads.requireOwnedImage(auth.userId, input.avatar) : null;
    await this.countGroupChange(auth.userId, 'group-create');
    const chatId = await userStillThere(
      this.chats.transaction(async (tx) => {
        if (avatar) await this.uploads.holdOwnedImage(tx, auth.userId, avatar);
        return this.chats.createGroup(tx, input.name, groupDescription(input.description), avatar, auth.userId, memberIds);
      }),
    );
    await this.publishChat([auth.userId, ...memberIds], chatId, 'chat:new');
    const everyone = [auth.userId, ...memberIds];
    await this.relations.started([{ viewers: everyone, subjects: everyone }]);
    return this.viewOf(auth.userId, chatId);
  }

  /**
   * The caller's membership of the chat once ChatPolicy lets them do `action` (to the member
   * `targetId`, whose membership comes back too): CHAT_NOT_FOUND when they cannot see the chat,
   * NOT_A_GROUP, FORBIDDEN or CANNOT_CHANGE_OWNER as the policy says, MEMBER_NOT_FOUND for a
   * target outside the chat. Inside a transaction (`tx`), the chat's row is locked first: every
   * change of a group's members and roles is decided on what it is when it commits.
   */
  async authorize(chatId: string, userId: string, action: ChatAction, options: { targetId?: string; tx?: EntityManager } = {}): Promise<Authorized> {
    const { targetId, tx } = options;
    const membership = isUuid(chatId) ? await this.chats.membership(chatId, userId, tx, { lock: !!tx }) : null;
    if (!membership || !membership.visible) throw new AppError('CHAT_NOT_FOUND');
    const actor = { userId, role: membership.role };
    refuse(decide(action, membership.chat.type, actor));
    if (targetId === undefined) return { membership, target: null };
    const target = isUuid(targetId) ? await this.chats.membership(chatId, targetId, tx) : null;
    if (!target) throw new AppError('MEMBER_NOT_FOUND');
    refuse(decide(action, membership.chat.type, actor, { userId: targetId, role: target.role }));
    return { membership, target };
  }

  /**
   * Name, avatar and description (OWNER or ADMIN); members get chat:updated when something
   * changed (a repeat of what is there writes and tells nothing: each tells every member). A
   * replaced avatar nothing else shows is deleted.
   */
  async update(auth: AuthContext, chatId: string, changes: UpdateChatDto): Promise<ChatDto> {
    const { membership } = await this.authorize(chatId, auth.userId, 'edit-info');
    // The avatar the group shows already, sent back with a rename (a form sends every field), is
    // no change, whoever uploaded it: only a new one must be the caller's own image.
    const current = membership.chat.avatar;
    const keptAvatar = !!changes.avatar && !!current && storedNameFromUrl(changes.avatar) === storedNameFromUrl(current);
    if (keptAvatar) changes = { ...changes, avatar: current };
    else if (changes.avatar) changes = { ...changes, avatar: await this.uploads.requireOwnedImage(auth.userId, changes.avatar) };
    if (changes.description !== undefined) changes = { ...changes, description: groupDescription(changes.description) };
    const { changed, removeFiles } = await this.chats.transaction(async (tx) => {
      const { membership: locked } = await this.authorize(chatId, auth.userId, 'edit-info', { tx });
      // Replaced meanwhile: what was sent back is someone else's image, no longer the group's.
      if (keptAvatar && locked.chat.avatar !== changes.avatar) throw new AppError('MEDIA_NOT_FOUND', 'The avatar must be an image you uploaded');
      if (changes.avatar && !keptAvatar) await this.uploads.holdOwnedImage(tx, auth.userId, changes.avatar);
      const previous = await this.chats.updateInfo(tx, chatId, changes);
      if (previous.changed) await this.countGroupChange(auth.userId, 'group-changes');
      const replaced = previous.changed && previous.avatar && previous.avatar !== changes.avatar && changes.avatar !== undefined;
      return { changed: previous.changed, removeFiles: replaced ? await this.uploads.releaseMedia(tx, [previous.avatar!]) : null };
    });
    await removeFiles?.();
    if (changed) await this.afterCommit(chatId, 'chat:updated', async () => this.publishChat(await this.chats.memberIds(chatId), chatId, 'chat:updated', { settle: groupProfile }));
    return this.viewOf(auth.userId, chatId);
  }

  /**
   * Adds members (OWNER or ADMIN), counted under the chat's lock against the 200-member limit.
   * Adding someone who was removed is on purpose: invite links let them in again afterwards.
   */
  async addMembers(auth: AuthContext, chatId: string, input: AddMembersDto): Promise<ChatDto> {
    await this.authorize(chatId, auth.userId, 'add-members');
    const wanted = [...new Set(input.userIds)].filter((id) => id !== auth.userId);
    // Those already in it are not being invited: their privacy setting or a block of theirs does not refuse the rest.
    const members = new Set(await this.chats.memberIds(chatId));
    await this.users.assertInvitable(auth.userId, wanted.filter((id) => !members.has(id)));
    const { before, added } = await userStillThere(
      this.chats.transaction(async (tx) => {
        await this.authorize(chatId, auth.userId, 'add-members', { tx });
        const current = await this.chats.memberIds(chatId, tx);
        // One who left since the check above was not checked: not added back by this request.
        const candidates = wanted.filter((id) => !current.includes(id) && !members.has(id));
        if (current.length + candidates.length > MAX_GROUP_MEMBERS) throw new AppError('GROUP_LIMIT_EXCEEDED');
        if (candidates.length) await this.countGroupChange(auth.userId, 'group-changes');
        const added = await this.chats.addMembers(tx, chatId, candidates);
        await this.chats.forgetRemovals(tx, chatId, added);
        return { before: current, added };
      }),
    );
    await this.announceAdded(chatId, before, added);
    return this.viewOf(auth.userId, chatId);
  }

  /**
   * After members were added (committed): they get chat:new, the members `before` them
   * chat:updated, and each side starts seeing the other's presence.
   */
  async announceAdded(chatId: string, before: string[], added: string[]): Promise<void> {
    if (!added.length) return;
    await this.afterCommit(chatId, 'added members', async () => {
      await this.publishChat(added, chatId, 'chat:new');
      await this.publishChat(before, chatId, 'chat:updated');
      await this.relations.started([{ viewers: added, subjects: [...before, ...added] }, { viewers: before, subjects: added }]);
    });
  }

  /**
   * §5.3: the OWNER removes anyone but themselves, an ADMIN removes MEMBERs. The remaining
   * members get the SYSTEM message `member_kicked:<id>`, chat:member-left and chat:updated; the
   * removed user chat:deleted, and user:offline for each member whose presence they saw through
   * this chat alone (and those members for them). Their draft, pin, mute and archive state go with
   * their membership. The removal is recorded: invite links do not let them back in (a manager can
   * add them back).
   */
  async removeMember(auth: AuthContext, chatId: string, userId: string): Promise<MemberLeftDto> {
    await this.authorize(chatId, auth.userId, 'remove-member', { targetId: userId });
    const others = (await this.chats.memberIds(chatId)).filter((id) => id !== userId);
    const { remaining, announce } = await this.relations.around(between([userId], others), () =>
      this.chats.transaction(async (tx) => {
        await this.authorize(chatId, auth.userId, 'remove-member', { targetId: userId, tx });
        await this.countGroupChange(auth.userId, 'group-changes');
        await this.chats.removeMember(tx, chatId, userId);
        await this.chats.recordRemoval(tx, chatId, userId);
        return { remaining: await this.chats.memberIds(chatId, tx), announce: await this.systemMessages.record(tx, chatId, auth.userId, GroupEvents.memberKicked(userId)) };
      }),
    );
    await this.afterCommit(chatId, 'member removed', async () => {
      await this.realtime.toUsers([userId], 'chat:deleted', { chatId });
      await this.announceLeft(chatId, userId, remaining, announce);
    });
    return { chatId, userId };
  }

  /**
   * §5.2: the OWNER makes a member an ADMIN or an ADMIN a member. A change is announced by the
   * SYSTEM message `role_changed:<id>:<role>` and chat:updated to all members; the same role
   * again changes nothing and announces nothing.
   */
  async changeRole(auth: AuthContext, chatId: string, userId: string, role: 'ADMIN' | 'MEMBER'): Promise<ChatDto> {
    const announce = await this.chats.transaction(async (tx) => {
      const { target } = await this.authorize(chatId, auth.userId, 'change-role', { targetId: userId, tx });
      if (target!.role === role) return null;
      await this.countGroupChange(auth.userId, 'group-changes');
      await this.chats.setRole(tx, chatId, userId, role);
      return this.systemMessages.record(tx, chatId, auth.userId, GroupEvents.roleChanged(userId, role));
    });
    if (announce) {
      await this.afterCommit(chatId, 'role changed', async () => {
        const members = await this.chats.memberIds(chatId);
        await announce(members);
        await this.publishChat(members, chatId, 'chat:updated', { settle: roles });
      });
    }
    return this.viewOf(auth.userId, chatId);
  }

  /**
   * §5.1: the OWNER deletes the group with everything in it (members, messages, reactions,
   * invite links, drafts, pins) and the media nothing else shows, files included; every member
   * gets chat:deleted and stops seeing the presence of those they saw through it alone.
   */
  async deleteGroup(auth: AuthContext, chatId: string): Promise<{ chatId: string }> {
    await this.authorize(chatId, auth.userId, 'delete-group');
    const members = await this.chats.memberIds(chatId);
    const { removeFiles, lastMembers } = await this.relations.around([{ viewers: members, subjects: members }], () =>
      this.chats.transaction(async (tx) => {
        await this.authorize(chatId, auth.userId, 'delete-group', { tx });
        // Read again under the lock: someone who joined (by a link) since the read above is told too.
        return { lastMembers: await this.chats.memberIds(chatId, tx), removeFiles: await this.deleteChat(tx, chatId) };
      }),
    );
    await removeFiles();
    const told = [...new Set([...members, ...lastMembers])];
    await this.afterCommit(chatId, 'group deleted', () => this.realtime.toUsers(told, 'chat:deleted', { chatId }));
    return { chatId };
  }

  /**
   * §5.5: any member pins a message of the chat (neither a SYSTEM message nor one they hid) or
   * unpins with null. All members, the caller included, get chat:updated `{id, pinnedMessageId}`:
   * the client takes the pinned message from that event alone. Under the chat's row lock, the
   * pin itself requires the caller's membership: a member removed meanwhile gets CHAT_NOT_FOUND.
   * A block between the two members of a pair chat refuses a pin either way (BLOCKED); an unpin goes through.
   */
  async pinMessage(auth: AuthContext, chatId: string, messageId: string | null): Promise<ChatDto> {
    if (messageId !== null) {
      // Before the transaction too: a refusal answers without taking the chat's lock.
      const { membership } = await this.authorize(chatId, auth.userId, 'pin-message');
      await this.blocks.requireInChat('pin-message', auth.userId, membership.chat);
    }
    await this.chats.transaction(async (tx) => {
      const { membership } = await this.authorize(chatId, auth.userId, 'pin-message', { tx });
      if (messageId !== null && !isUuid(messageId)) throw new AppError('MESSAGE_NOT_FOUND');
      const pinned = await this.chats.setPinnedMessage(tx, chatId, auth.userId, messageId);
      if (pinned === null) throw new AppError('CHAT_NOT_FOUND');
      if (!pinned) throw new AppError('MESSAGE_NOT_FOUND');
      // Again after the write: a block committed since the check above is seen (it takes no chat lock).
      if (messageId !== null) await this.blocks.requireInChat('pin-message', auth.userId, membership.chat, tx);
      // A pin (any member may pin) reaches every member as a group change does.
      await this.countGroupChange(auth.userId, 'group-changes');
    });
    await this.afterCommit(chatId, 'pinned message', async () => this.announcePinned(chatId, messageId));
    return this.viewOf(auth.userId, chatId);
  }

  /** Inside the transaction deleting a message: unpins it if it is the chat's pinned message; resolves whether it was. */
  unpinMessage(tx: EntityManager, chatId: string, messageId: string): Promise<boolean> {
    return this.chats.unpinMessage(tx, chatId, messageId);
  }

  /**
   * Tells all members the chat's pinned message (null: none); also after the pinned message was
   * deleted. Read again once told, and told again when it changed: two pins (or a pin and an
   * unpin, or a delete of the pinned message) at once tell theirs in no order between them, and
   * the one that commits last reads after both (see PresenceRelations).
   */
  async announcePinned(chatId: string, pinnedMessageId: string | null): Promise<void> {
    await this.realtime.toUsers(await this.chats.memberIds(chatId), 'chat:updated', { id: chatId, pinnedMessageId });
    const now = await this.chats.pinnedMessageOf(chatId);
    if (now !== undefined && now !== pinnedMessageId) await this.realtime.toUsers(await this.chats.memberIds(chatId), 'chat:updated', { id: chatId, pinnedMessageId: now });
  }

  /**
   * Group (§5.4): the caller leaves; an OWNER's role passes to the earliest ADMIN, else the
   * earliest member; the remaining members get the SYSTEM message `member_left`,
   * chat:member-left and chat:updated (with the new roles), the leaver's sockets chat:deleted;
   * the last one out deletes the group. Direct or secret: the chat is removed for both. A deleted
   * chat's media goes with its messages, unless something else still shows it. Whoever saw the
   * other's presence through this chat alone gets user:offline.
   */
  async leave(auth: AuthContext, chatId: string): Promise<void> {
    const { membership } = await this.authorize(chatId, auth.userId, 'leave');
    const members = await this.chats.memberIds(chatId);
    const presence = between([auth.userId], members.filter((id) => id !== auth.userId));
    if (membership.chat.type !== 'GROUP') {
      const removeFiles = await this.relations.around(presence, () => this.chats.transaction((tx) => this.deleteChat(tx, chatId)));
      await removeFiles();
      await this.afterCommit(chatId, 'chat left', () => this.realtime.toUsers(members, 'chat:deleted', { chatId }));
      return;
    }
    const outcome = await this.relations.around(presence, () =>
      this.chats.transaction(async (tx) => {
        await this.authorize(chatId, auth.userId, 'leave', { tx });
        await this.chats.removeMember(tx, chatId, auth.userId);
        // A voluntary leave leaves no removal behind: a member was let back in, even where a removal
        // row outlived that (an instance of an older release re-added them during a rolling deploy).
        await this.chats.forgetRemovals(tx, chatId, [auth.userId]);
        const remaining = await this.chats.memberIds(chatId, tx);
        if (!remaining.length) return { remaining, removeFiles: await this.deleteChat(tx, chatId), announce: null };
        // Whoever left, a group left without an owner gets one.
        await this.chats.passOwnership(tx, chatId);
        return { remaining, removeFiles: null, announce: await this.systemMessages.record(tx, chatId, auth.userId, GroupEvents.memberLeft()) };
      }),
    );
    await outcome.removeFiles?.();
    await this.afterCommit(chatId, 'member left', async () => {
      await this.realtime.toUsers([auth.userId], 'chat:deleted', { chatId });
      if (outcome.announce) await this.announceLeft(chatId, auth.userId, outcome.remaining, outcome.announce);
    });
  }

  /** A member left or was removed: the remaining members get its SYSTEM message, chat:member-left and the chat as it is now. */
  private async announceLeft(chatId: string, userId: string, remaining: string[], announce: SystemMessagePublication): Promise<void> {
    await announce(remaining);
    await this.realtime.toUsers(remaining, 'chat:member-left', { chatId, userId });
    await this.publishChat(remaining, chatId, 'chat:updated');
  }

  /**
   * Events after a committed change are at most once: a failure is logged, not answered, since
   * the change stands (a retry would find it done) and clients resync from the chat list.
   */
  private async afterCommit(chatId: string, what: string, work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (error) {
      this.logger.warn(`chat ${chatId}: announcing ${what} failed: ${(error as Error).message}`);
    }
  }

  /**
   * The caller's chats (the archive with `archived`), pinned first: every one of them in one
   * statement when no `limit` is given (the web client never pages), else a keyset page.
   */
  async list(auth: AuthContext, query: ChatListQuery): Promise<ChatPageDto> {
    const limit = query.limit ?? null;
    const after = query.cursor ? decodeCursor(query.cursor) : null;
    const views = await this.chats.viewPage(auth.userId, { archived: query.archived ?? false, after, limit: limit === null ? null : limit + 1 });
    const { chats } = views;
    const page = limit === null ? chats : chats.slice(0, limit);
    const last = page[page.length - 1];
    return {
      chats: await this.views.toDtos(auth.userId, { ...views, chats: page }),
      nextCursor: limit !== null && chats.length > limit && last ? encodeCursor(last.sortKey, last.id) : null,
    };
  }

  async get(auth: AuthContext, chatId: string): Promise<ChatDto> {
    await this.requireMember(chatId, auth.userId);
    return this.viewOf(auth.userId, chatId);
  }

  /**
   * The caller's saved messages (the SELF chat), created on first use; the caller's sockets get
   * chat:new when it is created (the tab that asked has no socket identity, so it gets it too).
   */
  async saved(auth: AuthContext): Promise<{ chat: ChatDto; created: boolean }> {
    const { chatId, created } = await this.chats.transaction((tx) => this.chats.findOrCreateSelf(tx, auth.userId));
    const chat = await this.views.one(auth.userId, chatId);
    // Left (deleted) by another request in between: the next call creates it again.
    if (!chat) throw new AppError('CHAT_NOT_FOUND');
    if (created) await this.realtime.toUsers([auth.userId], 'chat:new', chat);
    return { chat, created };
  }

  /** Mutes the chat for the caller until further notice, or unmutes it. */
  async mute(auth: AuthContext, chatId: string, muted: boolean): Promise<MuteStateDto> {
    const change = isUuid(chatId) ? await this.chats.setMutedUntil(chatId, auth.userId, muted ? MUTED_FOREVER : null) : null;
    if (!change) throw new AppError('CHAT_NOT_FOUND');
    if (change.changed) await this.publishChat([auth.userId], chatId, 'chat:updated', { settle: ownState(auth.userId) });
    return { chatId, muted, mutedUntil: isoOrNull(change.value) };
  }

  /** Pins the chat on top of the caller's list (a repeat keeps the first pin time), or unpins it. */
  async pin(auth: AuthContext, chatId: string, pinned: boolean): Promise<PinStateDto> {
    const change = isUuid(chatId) ? await this.chats.setPinned(chatId, auth.userId, pinned) : null;
    if (!change) throw new AppError('CHAT_NOT_FOUND');
    if (change === 'limit') throw new AppError('PIN_LIMIT', `At most ${MAX_PINNED_CHATS} chats can be pinned`);
    if (change.changed) await this.publishChat([auth.userId], chatId, 'chat:updated', { settle: ownState(auth.userId) });
    return { chatId, pinned, pinnedAt: isoOrNull(change.value) };
  }

  /** Moves the chat into the caller's archive or back; new messages leave it there. */
  async archive(auth: AuthContext, chatId: string, archived: boolean): Promise<ArchiveStateDto> {
    const change = isUuid(chatId) ? await this.chats.setArchived(chatId, auth.userId, archived) : null;
    if (!change) throw new AppError('CHAT_NOT_FOUND');
    if (change.changed) await this.publishChat([auth.userId], chatId, 'chat:updated', { settle: ownState(auth.userId) });
    return { chatId, archived, archivedAt: isoOrNull(change.value) };
  }

  /**
   * Stores the caller's draft and tells all their sockets. Refused in a SECRET chat: a draft is
   * plaintext, and no plaintext of a secret chat is ever stored on the server.
   */
  async saveDraft(auth: AuthContext, chatId: string, input: SaveDraftDto): Promise<DraftDto> {
    const membership = await this.requireMember(chatId, auth.userId);
    if (membership.chat.type === 'SECRET') throw new AppError('SECRET_CHAT_RESTRICTED');
    const replyToId = input.replyToId && isUuid(input.replyToId) ? input.replyToId : null;
    const draft = await this.chats.saveDraft(chatId, auth.userId, input.text, replyToId);
    if (!draft) throw new AppError('CHAT_NOT_FOUND');
    await this.publishDraft(auth.userId, chatId, draft);
    return { text: draft.text, replyToId: draft.replyToId, updatedAt: new Date(draft.updatedAt).toISOString() };
  }

  /** Removes the caller's draft (idempotent); their sockets hear of it when there was one. */
  async deleteDraft(auth: AuthContext, chatId: string): Promise<DraftClearedDto> {
    const cleared = isUuid(chatId) ? await this.chats.clearDraft(chatId, auth.userId) : null;
    if (cleared === null) throw new AppError('CHAT_NOT_FOUND');
    if (cleared) await this.publishDraft(auth.userId, chatId, { text: null, replyToId: null });
    return { chatId };
  }

  /**
   * Tells the user's sockets of their draft as `told`, then, read again, as it is now if that is
   * not the same: two saves (or a save and a delete) from two devices at once tell theirs in no
   * order between them, and the one that commits last reads after both (see PresenceRelations).
   * A sent message clearing the sender's draft tells it the same way (MessagesService).
   */
  async publishDraft(userId: string, chatId: string, told: { text: string | null; replyToId: string | null }): Promise<void> {
    await this.realtime.toUsers([userId], 'draft:updated', { chatId, text: told.text, replyToId: told.replyToId });
    const now = await this.chats.draftOf(chatId, userId);
    if (now && (now.text !== told.text || now.replyToId !== told.replyToId)) await this.realtime.toUsers([userId], 'draft:updated', { chatId, text: now.text, replyToId: now.replyToId });
  }

  /**
   * Sends a chat event, each recipient seeing members, unread count and their own pin and mute
   * from their own side. chat:updated leaves the recipient's draft out (the client ignores it there).
   * With `settle` (what the change was about, as a function of a view: the same for every
   * recipient, or the one recipient's own state), the first recipient's view is read again once
   * all are sent, and all are sent again when that part of it changed: two changes of one chat at
   * once (two renames, a mute and an unmute from two devices) each send the view read after
   * their own commit, in no order between them, and the one that commits last reads after both
   * (see PresenceRelations). Other parts (unread, presence) change all the time and are not compared.
   */
  async publishChat(userIds: string[], chatId: string, event: 'chat:new' | 'chat:updated', options: { settle?: (chat: ChatDto) => unknown } = {}): Promise<void> {
    // Each member's view is their own (their unread, draft, pins), all read at once and sent a few
    // at a time as they are built, each frame being a whole chat with every member's profile.
    const ids = [...new Set(userIds)];
    let told: { userId: string; part: string } | null = null;
    let sending: Array<Promise<void>> = [];
    for await (const [userId, chat] of this.views.forMembers(chatId, ids)) {
      const sent = event === 'chat:new' ? this.realtime.toUsers([userId], event, chat) : this.realtime.toUsers([userId], event, withoutDraft(chat));
      // Handled at once: the next views are built over later turns of the event loop, and a
      // rejection with no handler meanwhile would end the process; Promise.all below still sees it.
      sent.catch(() => undefined);
      sending.push(sent);
      if (options.settle && userId === ids[0]) told = { userId, part: JSON.stringify(options.settle(chat)) };
      if (sending.length >= PUBLISH_CHAT_CONCURRENCY) {
        await Promise.all(sending);
        sending = [];
      }
    }
    await Promise.all(sending);
    if (!options.settle || !told) return;
    const { userId, part } = told;
    const now = await this.views.one(userId, chatId);
    if (now && JSON.stringify(options.settle(now)) !== part) await this.publishChat(ids, chatId, 'chat:updated');
  }

  /** Deletes the chat with its messages, and their media that nothing else shows; resolves the after-commit file removal. */
  private async deleteChat(tx: EntityManager, chatId: string): Promise<() => Promise<void>> {
    const media = await this.uploads.mediaOfChats(tx, [chatId]);
    await this.chats.deleteChat(tx, chatId);
    return this.uploads.releaseMedia(tx, media);
  }
}

/** What ChatsService.authorize found: the caller's membership, and the target's when one was named. */
export interface Authorized {
  membership: Membership;
  target: Membership | null;
}

function refuse(refusal: Refusal | null): void {
  if (refusal) throw new AppError(refusal.code, refusal.message);
}

function withoutDraft({ draft: _draft, ...chat }: ChatDto): ChatUpdateDto {
  return chat;
}

function isoOrNull(value: Date | string | null): string | null {
  return value === null ? null : new Date(value).toISOString();
}

/** Chat-list cursors are opaque: base64url of the last row's list position (rank, exact key) and id. */
function encodeCursor(sortKey: string, id: string): string {
  return Buffer.from(`${sortKey}|${id}`).toString('base64url');
}

function decodeCursor(cursor: string): ListPosition {
  const [rank, key, id, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  if (rest.length || !id || !isUuid(id) || !/^[01]$/.test(rank ?? '') || !/^-?\d{1,17}$/.test(key ?? '')) {
    throw new AppError('VALIDATION_ERROR', undefined, { errors: { cursor: ['cursor is not valid'] } });
  }
  return { rank: Number(rank), key, id };
}

/** A member added whose account was deleted between the invitability check and the insert: USER_NOT_FOUND, as the check would have said. */
const userStillThere = <T>(work: Promise<T>): Promise<T> => onForeignKeyGone(work, () => new AppError('USER_NOT_FOUND'), 'chat_members_user_id_fkey');

/** What a mute, pin or archive of the chat changes: the viewer's own state. */
const ownState =
  (userId: string) =>
  (chat: ChatDto): unknown => {
    const own = chat.members.find((m) => m.userId === userId);
    return [own?.mutedUntil, own?.pinnedAt, chat.archivedAt];
  };

/** What a PATCH of a group changes, the same for every member. */
const groupProfile = (chat: ChatDto): unknown => [chat.name, chat.description, chat.avatar];

/** What a role change changes, the same for every member. */
const roles = (chat: ChatDto): unknown => chat.members.map((m) => [m.userId, m.role]);

/** A group's description as stored, on creation as on a change: trimmed, and none when empty (§18.5). */
function groupDescription(description: string | null | undefined): string | null {
  return description?.trim() || null;
}
