import { Injectable } from '@nestjs/common';
import { MessageViews } from '../messages/message-views';
import { receiptFactsOf } from '../users/read-receipts';
import { UsersService } from '../users/users.service';
import { ChatViewSet, ChatsRepository } from './chats.repository';
import { ChatDto } from './dto/chat.dto';

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
    const blockers = new Set(blockedBy);
    // The members' own read watermarks are the read receipts of the last messages; their user
    // rows carry what decides whether the viewer may see each member's receipts.
    const receipts = new Map(users.map((u) => [u.id, receiptFactsOf(u, viewerId)]));
    const watermarks = chats
      .flatMap((c) => c.members)
      .flatMap((m) => {
        const facts = receipts.get(m.userId);
        return facts ? [{ ...m, ...facts }] : [];
      });
    const lastMessages = chats.flatMap((c) => (c.lastMessage ? [c.lastMessage] : []));
    const lastById = new Map(this.messageViews.buildRich(lastMessages, watermarks, viewerId).map((m) => [m.id, m]));
    return chats.map((chat) => {
      // The client shows its "blocked" banner in a pair chat whose partner blocked the viewer.
      const pair = chat.type === 'DIRECT' || chat.type === 'SECRET';
      return {
        id: chat.id,
        type: chat.type,
        numericId: chat.numericId,
        name: chat.name,
        description: chat.description,
        avatar: chat.avatar,
        pinnedMessageId: chat.pinnedMessageId,
        createdAt: new Date(chat.createdAt).toISOString(),
        members: chat.members.flatMap((m) => {
          const profile = profiles.get(m.userId);
          if (!profile) return [];
          const user = pair ? { ...profile, blockedByThem: blockers.has(m.userId) } : profile;
          return [{ id: m.id, userId: m.userId, chatId: m.chatId, role: m.role, joinedAt: iso(m.joinedAt), pinnedAt: isoOrNull(m.pinnedAt), mutedUntil: isoOrNull(m.mutedUntil), user }];
        }),
        lastMessage: (chat.lastMessage && lastById.get(chat.lastMessage.id)) || null,
        unread: chat.unread,
        draft: chat.draft ? { text: chat.draft.text, replyToId: chat.draft.replyToId, updatedAt: iso(chat.draft.updatedAt) } : null,
        archivedAt: isoOrNull(chat.archivedAt),
      };
    });
  }
}

/** Timestamps read as JSON come in PostgreSQL's text form; the wire has ISO 8601 with milliseconds. */
function iso(value: string): string {
  return new Date(value).toISOString();
}

function isoOrNull(value: string | null): string | null {
  return value === null ? null : new Date(value).toISOString();
}
