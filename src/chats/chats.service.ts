import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { isUuid } from '../core/database/ids';
import { AppError } from '../core/errors';
import { between, PresenceRelations } from '../presence/presence-relations';
import { RealtimePublisher } from '../realtime/realtime-publisher';
import { KeysService } from '../keys/keys.service';
import { UploadsService } from '../uploads/uploads.service';
import { UsersService } from '../users/users.service';
import { AuthContext } from '../auth/auth-context';
import './chat-events';
import { ChatViews } from './chat-views';
import { ChatsRepository, ListPosition, MAX_PINNED_CHATS, Membership, MUTED_FOREVER } from './chats.repository';
import { ArchiveStateDto, ChatDto, ChatPageDto, ChatUpdateDto, DraftClearedDto, DraftDto, MuteStateDto, PinStateDto } from './dto/chat.dto';
import { AddMembersDto, ChatListQuery, GroupChatDto, SaveDraftDto, UpdateChatDto } from './dto/chat-requests.dto';
import { ChatType } from './entities/chat.entity';
import { ChatRole } from './entities/chat-member.entity';

export const MAX_GROUP_MEMBERS = 200;

/**
 * Chats and their members: who may see, change and join what. Anyone who is not a (visible)
 * member gets CHAT_NOT_FOUND, never a hint that the chat exists.
 */
/** Views built at once when a chat event goes to many members. */
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
  ) {}

  /** When an account goes, the groups it leaves behind tell their remaining members. */
  onModuleInit(): void {
    this.users.onAccountDeletion(async (tx, userId) => {
      const groups = await this.chats.groupsOf(tx, userId);
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
  async roleOf(chatId: string, userId: string): Promise<ChatRole | null> {
    return (await this.chats.membership(chatId, userId))?.role ?? null;
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
    const { chatId } = await this.chats.transaction((tx) => this.chats.findOrCreatePair(tx, type, auth.userId, targetUserId));
    // The creator now shows the target's status (the target follows the creator once a message reveals the chat).
    await this.relations.started(between([auth.userId], [targetUserId]));
    return (await this.views.one(auth.userId, chatId))!;
  }

  async createGroup(auth: AuthContext, input: GroupChatDto): Promise<ChatDto> {
    const memberIds = [...new Set(input.memberIds)].filter((id) => id !== auth.userId);
    if (memberIds.length + 1 > MAX_GROUP_MEMBERS) throw new AppError('GROUP_TOO_LARGE');
    await this.assertAddable(auth.userId, memberIds);
    const avatar = input.avatar ? await this.uploads.requireOwnedImage(auth.userId, input.avatar) : null;
    const chatId = await this.chats.transaction((tx) => this.chats.createGroup(tx, input.name, avatar, auth.userId, memberIds));
    await this.publishChat([auth.userId, ...memberIds], chatId, 'chat:new');
    const everyone = [auth.userId, ...memberIds];
    await this.relations.started([{ viewers: everyone, subjects: everyone }]);
    return (await this.views.one(auth.userId, chatId))!;
  }

  async update(auth: AuthContext, chatId: string, changes: UpdateChatDto): Promise<ChatDto> {
    const membership = await this.requireMember(chatId, auth.userId);
    if (membership.chat.type !== 'GROUP') throw new AppError('NOT_A_GROUP');
    if (membership.role === 'MEMBER') throw new AppError('NOT_CHAT_ADMIN');
    if (changes.avatar) changes = { ...changes, avatar: await this.uploads.requireOwnedImage(auth.userId, changes.avatar) };
    await this.chats.transaction((tx) => this.chats.updateInfo(tx, chatId, changes));
    await this.publishChat(await this.chats.memberIds(chatId), chatId, 'chat:updated');
    return (await this.views.one(auth.userId, chatId))!;
  }

  async addMembers(auth: AuthContext, chatId: string, input: AddMembersDto): Promise<ChatDto> {
    const membership = await this.requireMember(chatId, auth.userId);
    if (membership.chat.type !== 'GROUP') throw new AppError('NOT_A_GROUP');
    if (membership.role === 'MEMBER') throw new AppError('NOT_CHAT_ADMIN');
    const current = await this.chats.memberIds(chatId);
    const candidates = [...new Set(input.userIds)].filter((id) => !current.includes(id));
    if (current.length + candidates.length > MAX_GROUP_MEMBERS) throw new AppError('GROUP_TOO_LARGE');
    await this.assertAddable(auth.userId, candidates);
    const added = await this.chats.transaction((tx) => this.chats.addMembers(tx, chatId, candidates));
    await this.announceAdded(chatId, current, added);
    return (await this.views.one(auth.userId, chatId))!;
  }

  /**
   * After members were added (committed): they get chat:new, the members `before` them
   * chat:updated, and each side starts seeing the other's presence.
   */
  async announceAdded(chatId: string, before: string[], added: string[]): Promise<void> {
    try {
      await this.publishChat(added, chatId, 'chat:new');
      await this.publishChat(before, chatId, 'chat:updated');
      await this.relations.started([{ viewers: added, subjects: [...before, ...added] }, { viewers: before, subjects: added }]);
    } catch (error) {
      // The members are added (committed); events are at-most-once and clients resync the list.
      this.logger.warn(`chat ${chatId}: announcing added members failed: ${(error as Error).message}`);
    }
  }

  /**
   * OWNER removes anyone, ADMIN removes MEMBERs; the removed user gets chat:deleted, and user:offline
   * for each member whose presence they saw through this chat alone (and those members for them).
   */
  async removeMember(auth: AuthContext, chatId: string, userId: string): Promise<void> {
    const membership = await this.requireMember(chatId, auth.userId);
    if (membership.chat.type !== 'GROUP') throw new AppError('NOT_A_GROUP');
    if (userId === auth.userId) return this.leave(auth, chatId);
    const target = isUuid(userId) ? await this.chats.membership(chatId, userId) : null;
    if (!target) throw new AppError('USER_NOT_FOUND', 'This user is not a member of the chat');
    const allowed = membership.role === 'OWNER' || (membership.role === 'ADMIN' && target.role === 'MEMBER');
    if (!allowed) throw new AppError('NOT_CHAT_ADMIN');
    const others = (await this.chats.memberIds(chatId)).filter((id) => id !== userId);
    await this.relations.around(between([userId], others), () => this.chats.transaction((tx) => this.chats.removeMember(tx, chatId, userId)));
    await this.realtime.toUsers([userId], 'chat:deleted', { chatId });
    await this.publishChat(await this.chats.memberIds(chatId), chatId, 'chat:updated');
  }

  /**
   * Group: the caller leaves; an OWNER's role passes to the oldest ADMIN, else the oldest member;
   * the last one out deletes the chat. Direct or secret: the chat is removed for both. A deleted
   * chat's media goes with its messages, unless something else still shows it. Whoever saw the
   * other's presence through this chat alone gets user:offline.
   */
  async leave(auth: AuthContext, chatId: string): Promise<void> {
    const membership = await this.requireMember(chatId, auth.userId);
    const members = await this.chats.memberIds(chatId);
    const presence = between([auth.userId], members.filter((id) => id !== auth.userId));
    if (membership.chat.type !== 'GROUP') {
      const removeFiles = await this.relations.around(presence, () => this.chats.transaction((tx) => this.deleteChat(tx, chatId)));
      await removeFiles();
      await this.realtime.toUsers(members, 'chat:deleted', { chatId });
      return;
    }
    let removeFiles = async (): Promise<void> => undefined;
    const remaining = await this.relations.around(presence, () =>
      this.chats.transaction(async (tx) => {
        await this.chats.removeMember(tx, chatId, auth.userId);
        const left = await this.chats.memberIds(chatId, tx);
        if (!left.length) removeFiles = await this.deleteChat(tx, chatId);
        else if (membership.role === 'OWNER') await this.chats.passOwnership(tx, chatId);
        return left;
      }),
    );
    await removeFiles();
    await this.realtime.toUsers([auth.userId], 'chat:deleted', { chatId });
    await this.publishChat(remaining, chatId, 'chat:updated');
  }

  /**
   * The caller's chats (the archive with `archived`), pinned first: every one of them in one
   * statement when no `limit` is given (the web client never pages), else a keyset page.
   */
  async list(auth: AuthContext, query: ChatListQuery): Promise<ChatPageDto> {
    const limit = query.limit ?? null;
    const after = query.cursor ? decodeCursor(query.cursor) : null;
    const { chats, users, blockedBy } = await this.chats.viewPage(auth.userId, { archived: query.archived ?? false, after, limit: limit === null ? null : limit + 1 });
    const page = limit === null ? chats : chats.slice(0, limit);
    const last = page[page.length - 1];
    return {
      chats: await this.views.toDtos(auth.userId, { chats: page, users, blockedBy }),
      nextCursor: limit !== null && chats.length > limit && last ? encodeCursor(last.sortKey, last.id) : null,
    };
  }

  async get(auth: AuthContext, chatId: string): Promise<ChatDto> {
    await this.requireMember(chatId, auth.userId);
    return (await this.views.one(auth.userId, chatId))!;
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
    if (change.changed) await this.publishChat([auth.userId], chatId, 'chat:updated');
    return { chatId, muted, mutedUntil: isoOrNull(change.value) };
  }

  /** Pins the chat on top of the caller's list (a repeat keeps the first pin time), or unpins it. */
  async pin(auth: AuthContext, chatId: string, pinned: boolean): Promise<PinStateDto> {
    const change = isUuid(chatId) ? await this.chats.setPinned(chatId, auth.userId, pinned) : null;
    if (!change) throw new AppError('CHAT_NOT_FOUND');
    if (change === 'limit') throw new AppError('PIN_LIMIT', `At most ${MAX_PINNED_CHATS} chats can be pinned`);
    if (change.changed) await this.publishChat([auth.userId], chatId, 'chat:updated');
    return { chatId, pinned, pinnedAt: isoOrNull(change.value) };
  }

  /** Moves the chat into the caller's archive or back; new messages leave it there. */
  async archive(auth: AuthContext, chatId: string, archived: boolean): Promise<ArchiveStateDto> {
    const change = isUuid(chatId) ? await this.chats.setArchived(chatId, auth.userId, archived) : null;
    if (!change) throw new AppError('CHAT_NOT_FOUND');
    if (change.changed) await this.publishChat([auth.userId], chatId, 'chat:updated');
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
    await this.realtime.toUsers([auth.userId], 'draft:updated', { chatId, text: draft.text, replyToId: draft.replyToId });
    return { text: draft.text, replyToId: draft.replyToId, updatedAt: new Date(draft.updatedAt).toISOString() };
  }

  /** Removes the caller's draft (idempotent); their sockets hear of it when there was one. */
  async deleteDraft(auth: AuthContext, chatId: string): Promise<DraftClearedDto> {
    const cleared = isUuid(chatId) ? await this.chats.clearDraft(chatId, auth.userId) : null;
    if (cleared === null) throw new AppError('CHAT_NOT_FOUND');
    if (cleared) await this.realtime.toUsers([auth.userId], 'draft:updated', { chatId, text: null, replyToId: null });
    return { chatId };
  }

  /**
   * Sends a chat event, each recipient seeing members, unread count and their own pin and mute
   * from their own side. chat:updated leaves the recipient's draft out (the client ignores it there).
   */
  async publishChat(userIds: string[], chatId: string, event: 'chat:new' | 'chat:updated'): Promise<void> {
    // Each member's view is built for them (their unread, draft, pins): a few at a time, so a
    // 200-member group does not queue 200 queries on the pool ahead of everyone else's requests.
    const ids = [...new Set(userIds)];
    for (let i = 0; i < ids.length; i += PUBLISH_CHAT_CONCURRENCY) {
      await Promise.all(
        ids.slice(i, i + PUBLISH_CHAT_CONCURRENCY).map(async (userId) => {
          const chat = await this.views.one(userId, chatId);
          if (!chat) return;
          if (event === 'chat:new') await this.realtime.toUsers([userId], event, chat);
          else await this.realtime.toUsers([userId], event, withoutDraft(chat));
        }),
      );
    }
  }

  /** Deletes the chat with its messages, and their media that nothing else shows; resolves the after-commit file removal. */
  private async deleteChat(tx: EntityManager, chatId: string): Promise<() => Promise<void>> {
    const media = await this.uploads.mediaOfChats(tx, [chatId]);
    await this.chats.deleteChat(tx, chatId);
    return this.uploads.releaseMedia(tx, media);
  }

  private async assertAddable(actorId: string, userIds: string[]): Promise<void> {
    const existing = await this.chats.existingUserIds(userIds);
    const missing = userIds.filter((id) => !existing.includes(id));
    if (missing.length) throw new AppError('USER_NOT_FOUND', `Unknown users: ${missing.join(', ')}`);
    for (const id of userIds) {
      if (await this.users.hasBlocked(id, actorId)) throw new AppError('BLOCKED');
    }
  }
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
