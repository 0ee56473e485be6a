import type { ChatDto, ChatUpdateDto } from './dto/chat.dto';

declare module '../realtime/client-events' {
  interface ClientEvents {
    'chat:new': ChatDto;
    'chat:updated': ChatUpdateDto;
    'chat:deleted': { chatId: string };
    /** To every socket of the draft's owner: text null when the draft is gone (deleted, or sent as a message). */
    'draft:updated': { chatId: string; text: string | null; replyToId: string | null };
  }
}

export {};
