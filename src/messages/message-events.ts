import type { MessageDto, ReactionDto } from './dto/message.dto';

declare module '../realtime/client-events' {
  interface ClientEvents {
    'message:new': MessageDto & { clientMessageId?: string };
    'message:edited': MessageDto;
    'message:deleted': { messageId: string; chatId: string; newLastMessage: MessageDto | null };
    'message:delivered': { messageId: string; chatId: string };
    'message:read': { messageId: string; chatId: string; readBy: string; readAt: string };
    'message:listened': { messageId: string; chatId: string; listenedBy: string };
    'reaction:added': { reaction: ReactionDto; chatId: string; messageId: string };
    'reaction:removed': { messageId: string; userId: string; emoji: string; chatId: string };
  }
}

export {};
