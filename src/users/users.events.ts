import { ApiProperty } from '@nestjs/swagger';
import { UserDto } from './dto/user.dto';

/** A profile changed: the public fields (never email, never presence) with the id. */
export type UserUpdatedEvent = Partial<UserDto> & { id: string };

export class ChatDeletedEvent {
  @ApiProperty({ format: 'uuid' }) chatId: string;
}

declare module '../realtime/client-events' {
  interface ClientEvents {
    'user:updated': UserUpdatedEvent;
    /** A chat is gone for this member (deleted, left, removed from it, or its other side's account deleted). */
    'chat:deleted': ChatDeletedEvent;
  }
}
