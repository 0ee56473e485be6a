import type { ChatDto } from './dto/chat.dto';

declare module '../realtime/client-events' {
  interface ClientEvents {
    'chat:new': ChatDto;
    'chat:updated': ChatDto;
    'chat:deleted': { chatId: string };
  }
}

export {};
