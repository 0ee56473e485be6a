import { Injectable } from '@nestjs/common';
import { MessageViews } from '../messages/message-views';
import type { WatermarkRow } from '../messages/messages.repository';
import type { UserDto } from '../users/dto/user.dto';
import { receiptFactsOf } from '../users/read-receipts';
import { UsersService } from '../users/users.service';
import { ChatViewSet, ChatsRepository } from './chats.repository';
import { ChatDto, ChatMemberDto, ChatMemberUserDto } from './dto/chat.dto';

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

  async toDtos(viewerId: string, { chats, users, blockedBy }: ChatViewSet): Promise<ChatDto[]> {
    if (!chats.length) return [];
    const profiles = new Map((await this.users.profilesFromRows(viewerId, users)).map((p) => [p.id, p]));
    // The client shows its "blocked" banner in a DIRECT or SECRET chat whose partner blocked the
    // viewer: members of those chats carry blockedByThem (one copy of each profile, however many chats).
    const blockers = new Set(blockedBy);
    const pairProfiles = new Map<string, ChatMemberUserDto>();
    const pairProfile = (profile: UserDto): ChatMemberUserDto => {
      let user = pairProfiles.get(profile.id);
      if (!user) pairProfiles.set(profile.id, (user = { ...profile, blockedByThem: blockers.has(profile.id) }));
      return user;
    };
    // The members' own read watermarks are the read receipts of the last messages; their user
    // rows carry what decides whether the viewer may see each member's receipts.
    const receipts = new Map(users.map((u) => [u.id, receiptFactsOf(u, viewerId)]));
    const watermarks: WatermarkRow[] = [];
    for (const chat of chats) {
      for (const m of chat.members) {
        const facts = receipts.get(m.userId);
        if (facts) watermarks.push({ ...facts, chatId: chat.id, lastReadSeq: m.lastReadSeq, lastReadAt: m.lastReadAt });
      }
    }
    const lastMessages = chats.flatMap((c) => (c.lastMessage ? [c.lastMessage] : []));
    const lastById = new Map(this.messageViews.buildRich(lastMessages, watermarks, viewerId).map((m) => [m.id, m]));
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
          joinedAt: iso(m.joinedAt),
          pinnedAt: own ? isoOrNull(chat.pinnedAt) : null,
          mutedUntil: own ? isoOrNull(chat.mutedUntil) : null,
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
        createdAt: iso(chat.createdAt),
        members,
        lastMessage: (chat.lastMessage && lastById.get(chat.lastMessage.id)) || null,
        unread: chat.unread,
        draft: chat.draft ? { text: chat.draft.text, replyToId: chat.draft.replyToId, updatedAt: iso(chat.draft.updatedAt) } : null,
        archivedAt: isoOrNull(chat.archivedAt),
      };
    });
  }
}

/**
 * A timestamp as PostgreSQL writes it into JSON (`2026-11-30T10:23:30.692123+00:00`, the
 * fraction trimmed or absent) in the wire's ISO form with milliseconds. UTC text is rewritten
 * as text (a chat list holds hundreds of these); any other form goes through Date, which
 * gives the same result (it too keeps the first three digits of the fraction).
 */
export function iso(value: string): string {
  if (value.length >= 25 && value[4] === '-' && value[10] === 'T' && value.endsWith('+00:00')) {
    const fraction = value.slice(19, -6);
    if (fraction === '' || (fraction[0] === '.' && fraction.length <= 7)) return `${value.slice(0, 19)}.${`${fraction.slice(1)}000`.slice(0, 3)}Z`;
  }
  return new Date(value).toISOString();
}

function isoOrNull(value: string | null): string | null {
  return value === null ? null : iso(value);
}
