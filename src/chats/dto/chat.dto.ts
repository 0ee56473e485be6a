import { ApiProperty, ApiPropertyOptional, OmitType } from '@nestjs/swagger';
import { MessageDto } from '../../messages/dto/message.dto';
import { UserDto } from '../../users/dto/user.dto';

/** A member's User as the viewer sees it, with whether they blocked the viewer (DIRECT and SECRET chats only). */
export class ChatMemberUserDto extends UserDto {
  @ApiPropertyOptional({ description: 'DIRECT and SECRET chats: true when this member has blocked the viewer (absent in other chats)' })
  blockedByThem?: boolean;
}

export class ChatMemberDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) userId: string;
  @ApiProperty({ format: 'uuid' }) chatId: string;
  @ApiProperty({ enum: ['OWNER', 'ADMIN', 'MEMBER'] }) role: string;
  @ApiProperty({ format: 'date-time' }) joinedAt: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'when this member pinned the chat; only on the viewer\'s own row' })
  pinnedAt: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'muted while in the future; only on the viewer\'s own row' })
  mutedUntil: string | null;
  @ApiProperty({ type: ChatMemberUserDto }) user: ChatMemberUserDto;
}

/** The caller's own unsent text in a chat. */
export class DraftDto {
  @ApiProperty() text: string;
  @ApiProperty({ type: String, format: 'uuid', nullable: true }) replyToId: string | null;
  @ApiProperty({ format: 'date-time' }) updatedAt: string;
}

/** The Chat object of the wire contract (v2.2 §1.1), as one viewer sees it. */
export class ChatDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ enum: ['DIRECT', 'GROUP', 'SECRET', 'SELF'], description: 'SELF: the saved messages' }) type: string;
  @ApiProperty({ description: 'unique per chat; the client\'s group links are /chat/-<numericId>' }) numericId: number;
  @ApiProperty({ type: String, nullable: true }) name: string | null;
  @ApiProperty({ type: String, nullable: true, maxLength: 512 }) description: string | null;
  @ApiProperty({ type: String, nullable: true }) avatar: string | null;
  @ApiProperty({ type: String, format: 'uuid', nullable: true }) pinnedMessageId: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ type: [ChatMemberDto] }) members: ChatMemberDto[];
  @ApiProperty({ type: MessageDto, nullable: true }) lastMessage: MessageDto | null;
  @ApiProperty() unread: number;
  @ApiProperty({ type: DraftDto, nullable: true, description: 'the caller\'s own draft; not sent in chat:updated' }) draft: DraftDto | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'when the caller archived the chat' }) archivedAt: string | null;
}

/**
 * chat:updated carries the Chat without the caller's draft (the client ignores it there): a class
 * of its own so that the AsyncAPI document describes the frame as sent, with no `draft` key.
 */
export class ChatUpdateDto extends OmitType(ChatDto, ['draft'] as const) {}

/** chat:updated when only the pinned message changed (wire-contract-v2.2 §5.5): the key is there even when null. */
export class PinnedMessageUpdate {
  @ApiProperty({ format: 'uuid', description: 'the chat' }) id: string;
  @ApiProperty({ type: String, format: 'uuid', nullable: true }) pinnedMessageId: string | null;
}

export class MemberLeftDto {
  @ApiProperty({ format: 'uuid' }) chatId: string;
  @ApiProperty({ format: 'uuid' }) userId: string;
}

export class ChatDeletedDto {
  @ApiProperty({ format: 'uuid' }) chatId: string;
}

export class MuteStateDto {
  @ApiProperty({ format: 'uuid' }) chatId: string;
  @ApiProperty() muted: boolean;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, example: '9999-12-31T23:59:59.000Z' }) mutedUntil: string | null;
}

export class PinStateDto {
  @ApiProperty({ format: 'uuid' }) chatId: string;
  @ApiProperty() pinned: boolean;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) pinnedAt: string | null;
}

export class ArchiveStateDto {
  @ApiProperty({ format: 'uuid' }) chatId: string;
  @ApiProperty() archived: boolean;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) archivedAt: string | null;
}

export class DraftClearedDto {
  @ApiProperty({ format: 'uuid' }) chatId: string;
}

export class ChatPageDto {
  @ApiProperty({ type: [ChatDto] }) chats: ChatDto[];
  @ApiProperty({ type: String, nullable: true, description: 'null when `limit` was not given (every chat is listed)' }) nextCursor: string | null;
}
