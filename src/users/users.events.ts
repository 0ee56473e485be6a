import type { UserDto } from './dto/user.dto';

declare module '../realtime/client-events' {
  interface ClientEvents {
    /** A profile changed: the public fields (never email, never presence) with the id. */
    'user:updated': Partial<UserDto> & { id: string };
    /** A chat is gone for this member (e.g. the other side of a direct chat deleted their account). */
    'chat:deleted': { chatId: string };
  }
}
