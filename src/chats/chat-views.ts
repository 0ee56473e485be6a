import { Injectable } from '@nestjs/common';
import { isoFromJson, isoFromJsonOrNull } from '../core/database/pg-timestamps';
import { MessageViews } from '../messages/message-views';
import type { WatermarkRow } from '../messages/messages.repository';
import type { UserDto } from '../users/dto/user.dto';
import { ReceiptFacts, receiptFactsOf } from '../users/read-receipts';
import { UsersService } from '../users/users.service';
import { ChatMemberFacts, ChatViewSet, ChatsRepository } from './chats.repository';
import { ChatDto, ChatMemberDto, ChatMemberUserDto } from './dto/chat.dto';

/** Views of a chat built between two turns of the event loop (ChatViews.forMembers). */
const VIEWS_PER_TURN = 16;

/**
 * Shapes chats into the wire contract's Chat as one viewer sees them: members with full
 * profiles (presence as privacy allows), the last message, the viewer's unread count.
 * A page is one statement (ChatsRepository.viewPage) and one presence lookup, whatever its size.
 */
@Injectable()
export class ChatViews {
  constructor(
    private readonly chats: ChatsRepository,
    private readonly users: UsersService,
    private readonly messageViews: MessageViews,
  ) {}

  /** One chat for one viewer (who must be a member), or null. */
  async one(viewerId: string, chatId: string): Promise<ChatDto | null> {
    const [chat] = await this.toDtos(viewerId, await this.chats.viewOne(viewerId, chatId));
    return chat ?? null;
  }

  /**
   * One chat as each of the viewers (members) sees it, as `one` would show it to each, in no
   * particular order: one statement and one presence lookup for all of them
   * (ChatsRepository.viewForMembers; the few whose last message replies to one they hid are read
   * one by one). Built as the caller takes them, and the event loop gets a turn every
   * VIEWS_PER_TURN (a view of a 200-member group is 200 profiles). Viewers not members are left out.
   */
  async *forMembers(chatId: string, viewerIds: string[]): AsyncGenerator<[viewerId: string, chat: ChatDto]> {
    const { viewerIds: batched, setFor, ownViews, userIds } = await this.chats.viewForMembers(chatId, viewerIds);
    const online = batched.length ? await this.users.onlineAmong(userIds) : undefined;
    let built = 0;
    for (const viewerId of batched) {
      const [chat] = await this.toDtos(viewerId, setFor(viewerId), online);
      if (chat) yield [viewerId, chat];
      if (++built % VIEWS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    for (const viewerId of ownViews) {
      const chat = await this.one(viewerId, chatId);
      if (chat) yield [viewerId, chat];
    }
  }

  /** `online`: which of the set's users are online (UsersService.onlineAmong), when the caller has it. */
  async toDtos(viewerId: string, { chats, users, blockedBy, lastMessages }: ChatViewSet, online?: Set<string>): Promise<ChatDto[]> {
    if (!chats.length) return [];
    const profiles = new Map((await this.users.profilesFromFacts(viewerId, users, online)).map((p) => [p.id, p]));
    // The client shows its "blocked" banner in a DIRECT or SECRET chat whose partner blocked the
    // viewer: members of those chats carry blockedByThem (one copy of each profile, however many chats).
    const blockers = new Set(blockedBy);
    const pairProfiles = new Map<string, ChatMemberUserDto>();
    const pairProfile = (p: UserDto): ChatMemberUserDto => {
      let user = pairProfiles.get(p.id);
      if (!user) {
        // Written out, not spread: a spread plus a new key costs V8 a map transition per object.
        user = { id: p.id, nickname: p.nickname, firstName: p.firstName, lastName: p.lastName, avatar: p.avatar, bio: p.bio, isOnline: p.isOnline, lastOnline: p.lastOnline, blockedByThem: blockers.has(p.id) };
        pairProfiles.set(p.id, user);
      }
      return user;
    };
    // The members' own read watermarks are the read receipts of the last messages; their user
    // rows carry what decides whether the viewer may see each member's receipts.
    const receipts = new Map(users.map((u) => [u.id, receiptFactsOf({ id: u.id, receiptLevel: u.receiptLevel, viewerIsContact: u.rule.viewerIsContact, blocked: u.rule.blocked }, viewerId)]));
    const watermarks: WatermarkRow[] = [];
    for (const chat of chats) {
      for (const m of chat.members) {
        const facts = receipts.get(m.userId);
        if (facts) watermarks.push(watermarkOf(facts, chat.id, m));
      }
    }
    const lastById = new Map(this.messageViews.buildSet(lastMessages, watermarks, viewerId).map((m) => [m.id, m]));
    return chats.map((chat) => {
      const pair = chat.type === 'DIRECT' || chat.type === 'SECRET';
      const members: ChatMemberDto[] = [];
      for (const m of chat.members) {
        const profile = profiles.get(m.userId);
        if (!profile) continue;
        // A member's pin and mute are their own business: only the viewer's row carries them.
        const own = m.userId === viewerId;
        members.push({
          id: m.id,
          userId: m.userId,
          chatId: chat.id,
          role: m.role,
          joinedAt: isoFromJson(m.joinedAt),
          pinnedAt: own ? isoFromJsonOrNull(chat.pinnedAt) : null,
          mutedUntil: own ? isoFromJsonOrNull(chat.mutedUntil) : null,
          user: pair ? pairProfile(profile) : profile,
        });
      }
      return {
        id: chat.id,
        type: chat.type,
        numericId: chat.numericId,
        name: chat.name,
        description: chat.description,
        avatar: chat.avatar,
        pinnedMessageId: chat.pinnedMessageId,
        createdAt: isoFromJson(chat.createdAt),
        members,
        lastMessage: (chat.lastMessageId && lastById.get(chat.lastMessageId)) || null,
        unread: chat.unread,
        draft: chat.draft ? { text: chat.draft.text, replyToId: chat.draft.replyToId, updatedAt: isoFromJson(chat.draft.updatedAt) } : null,
        archivedAt: isoFromJsonOrNull(chat.archivedAt),
      };
    });
  }
}

function watermarkOf(facts: ReceiptFacts, chatId: string, member: ChatMemberFacts): WatermarkRow {
  const { userId, receiptLevel, contactOf, blockedWith } = facts;
  return { chatId, userId, lastReadSeq: member.lastReadSeq, lastReadAt: member.lastReadAt, receiptLevel, contactOf, blockedWith };
}
