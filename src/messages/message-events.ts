import { ApiProperty } from '@nestjs/swagger';
import { MessageDto, ReactionDto } from './dto/message.dto';

export class MessageRefEvent {
  @ApiProperty({ format: 'uuid' }) messageId: string;
  @ApiProperty({ format: 'uuid' }) chatId: string;
}

export class MessageDeletedEvent extends MessageRefEvent {
  @ApiProperty({ type: MessageDto, nullable: true, description: 'the chat\'s last message as the recipient sees it now' }) newLastMessage: MessageDto | null;
}

export class MessageReadEvent extends MessageRefEvent {
  @ApiProperty({ format: 'uuid' }) readBy: string;
  @ApiProperty({ format: 'date-time' }) readAt: string;
}

export class MessageListenedEvent extends MessageRefEvent {
  @ApiProperty({ format: 'uuid' }) listenedBy: string;
}

export class ReactionAddedEvent {
  @ApiProperty({ type: ReactionDto }) reaction: ReactionDto;
  @ApiProperty({ format: 'uuid' }) chatId: string;
  @ApiProperty({ format: 'uuid' }) messageId: string;
}

export class ReactionRemovedEvent extends MessageRefEvent {
  @ApiProperty({ format: 'uuid' }) userId: string;
  @ApiProperty() emoji: string;
}

declare module '../realtime/client-events' {
  interface ClientEvents {
    'message:new': MessageDto;
    'message:edited': MessageDto;
    'message:deleted': MessageDeletedEvent;
    'message:delivered': MessageRefEvent;
    'message:read': MessageReadEvent;
    'message:listened': MessageListenedEvent;
    'reaction:added': ReactionAddedEvent;
    'reaction:removed': ReactionRemovedEvent;
  }
}
