import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

export class MessageSenderDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty() nickname: string;
  @ApiProperty({ type: String, nullable: true }) firstName: string | null;
  @ApiProperty({ type: String, nullable: true }) lastName: string | null;
  @ApiProperty({ type: String, nullable: true }) avatar: string | null;
}

export class ReadReceiptDto {
  @ApiProperty({ format: 'uuid' }) userId: string;
  @ApiProperty({ format: 'date-time' }) readAt: string;
}

export class ReactionDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) messageId: string;
  @ApiProperty({ format: 'uuid' }) userId: string;
  @ApiProperty({ example: '👍' }) emoji: string;
  @ApiPropertyOptional({ example: { nickname: 'john.doe' } }) user?: { nickname: string };
}

export class ReplyPreviewDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ type: String, nullable: true }) text: string | null;
  @ApiProperty({ type: MessageSenderDto, nullable: true }) sender: MessageSenderDto | null;
  @ApiProperty() isDeleted: boolean;
}

/** The Message object of the wire contract. */
export class MessageDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) chatId: string;
  @ApiProperty({ description: "The message's position in its chat (1, 2, 3, …): live events arrive in this order" }) seq: number;
  @ApiProperty({ type: MessageSenderDto, nullable: true }) sender: MessageSenderDto | null;
  @ApiProperty({ type: String, nullable: true }) text: string | null;
  @ApiProperty({ enum: ['TEXT', 'IMAGE', 'FILE', 'AUDIO', 'VIDEO', 'SYSTEM'] }) type: string;
  @ApiProperty({ type: String, nullable: true }) mediaUrl: string | null;
  @ApiProperty({ type: String, nullable: true }) mediaName: string | null;
  @ApiProperty({ type: Number, nullable: true }) mediaSize: number | null;
  @ApiProperty() isDeleted: boolean;
  @ApiProperty() isEdited: boolean;
  @ApiProperty({ type: String, nullable: true }) replyToId: string | null;
  @ApiProperty({ type: ReplyPreviewDto, nullable: true }) replyTo: ReplyPreviewDto | null;
  @ApiProperty({ type: String, nullable: true }) forwardedFromId: string | null;
  @ApiProperty({ type: String, nullable: true }) forwardSenderName: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ format: 'date-time' }) updatedAt: string;
  @ApiProperty({ type: [ReadReceiptDto] }) readReceipts: ReadReceiptDto[];
  @ApiProperty({ type: [ReactionDto] }) reactions: ReactionDto[];
  @ApiProperty({ type: String, nullable: true }) ciphertext: string | null;
  @ApiProperty({ type: Number, nullable: true }) signalType: number | null;
  @ApiPropertyOptional({ type: [Object], example: [{ userId: '…' }] }) voiceListens?: Array<{ userId: string }>;
  @ApiProperty({ type: String, nullable: true, description: 'album key: messages with the same one form an album' }) mediaGroupId: string | null;
  @ApiPropertyOptional({ description: 'echoed on message:new to the sender when it sent one' }) clientMessageId?: string;
}

export class MessagePageDto {
  @ApiProperty({ type: [MessageDto] }) messages: MessageDto[];
  @ApiProperty({ type: String, nullable: true, description: 'the oldest id of this page; pass as cursor for the next' }) nextCursor: string | null;
}

export class SharedItemDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ enum: ['IMAGE', 'VIDEO', 'FILE', 'AUDIO', 'TEXT'], description: 'TEXT in the links tab' }) type: string;
  @ApiProperty({ type: String, nullable: true, description: 'null in the links tab' }) mediaUrl: string | null;
  @ApiProperty({ type: String, nullable: true }) mediaName: string | null;
  @ApiProperty({ type: Number, nullable: true }) mediaSize: number | null;
  @ApiProperty({ type: String, nullable: true, description: 'the text or caption (the links tab finds its web addresses in it)' }) text: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ type: MessageSenderDto, nullable: true }) sender: MessageSenderDto | null;
}

export class SharedPageDto {
  @ApiProperty({ type: [SharedItemDto] }) items: SharedItemDto[];
  @ApiProperty({ type: String, nullable: true }) nextCursor: string | null;
}
