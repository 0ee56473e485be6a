import { ApiProperty } from '@nestjs/swagger';
import type { ChatDto, ChatUpdateDto, MemberLeftDto, PinnedMessageUpdate } from './dto/chat.dto';

/** To every socket of the draft's owner: text null when the draft is gone (deleted, or sent as a message). */
export class DraftUpdatedEvent {
  @ApiProperty({ format: 'uuid' }) chatId: string;
  @ApiProperty({ type: String, nullable: true }) text: string | null;
  @ApiProperty({ type: String, format: 'uuid', nullable: true }) replyToId: string | null;
}

declare module '../realtime/client-events' {
  interface ClientEvents {
    'chat:new': ChatDto;
    'chat:updated': ChatUpdateDto | PinnedMessageUpdate;
    /** To the remaining members of a group when one leaves or is removed. */
    'chat:member-left': MemberLeftDto;
    'draft:updated': DraftUpdatedEvent;
  }
}
