import { Injectable } from '@nestjs/common';
import { MessageViews } from '../messages/message-views';
import { MessagesRepository } from '../messages/messages.repository';
import { UsersService } from '../users/users.service';
import { ChatListRow, ChatsRepository } from './chats.repository';
import { ChatDto } from './dto/chat.dto';

/**
 * Shapes chats into the wire contract's Chat as one viewer sees them: members with full
 * profiles (presence as privacy allows), the last message, the viewer's unread count.
 * A fixed number of queries for a whole page of chats.
 */
@Injectable()
export class ChatViews {
  constructor(
    private readonly chats: ChatsRepository,
    private readonly users: UsersService,
    private readonly messages: MessagesRepository,
    private readonly messageViews: MessageViews,
  ) {}

  async forViewer(viewerId: string, rows: ChatListRow[]): Promise<ChatDto[]> {
    if (!rows.length) return [];
    const chatIds = rows.map((r) => r.chat.id);
    const lastIds = rows.map((r) => r.chat.lastMessageId).filter((id): id is string => !!id);
    // Two independent statements (side by side on pg); the members' own read watermarks are the
    // read receipts of the last messages.
    const [{ members, profiles }, lastMessages] = await Promise.all([
      this.users.chatMembersWithProfiles(viewerId, chatIds),
      this.messages.findRichByIds(lastIds),
    ]);
    const lastById = new Map(this.messageViews.buildRich(lastMessages, members).map((m) => [m.id, m]));
    const membersByChat = new Map<string, ChatDto['members']>();
    for (const m of members) {
      const user = profiles.get(m.userId);
      if (!user) continue;
      const list = membersByChat.get(m.chatId) ?? [];
      if (!list.length) membersByChat.set(m.chatId, list);
      list.push({ id: m.id, userId: m.userId, chatId: m.chatId, role: m.role, joinedAt: new Date(m.joinedAt).toISOString(), user });
    }
    return rows.map(({ chat, unread }) => ({
      id: chat.id,
      type: chat.type,
      name: chat.name,
      avatar: chat.avatar,
      createdAt: new Date(chat.createdAt).toISOString(),
      members: membersByChat.get(chat.id) ?? [],
      lastMessage: (chat.lastMessageId && lastById.get(chat.lastMessageId)) || null,
      unread: unread,
    }));
  }

  /** One chat for one viewer (who must be a member). */
  async one(viewerId: string, chatId: string): Promise<ChatDto | null> {
    const chat = await this.chats.findChat(chatId);
    if (!chat) return null;
    const unread = await this.chats.unreadOf(chatId, viewerId);
    return (await this.forViewer(viewerId, [{ chat, unread }]))[0];
  }
}
