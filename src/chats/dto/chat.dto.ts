import { ApiProperty } from '@nestjs/swagger';
import { MessageDto } from '../../messages/dto/message.dto';
import { UserDto } from '../../users/dto/user.dto';

export class ChatMemberDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) userId: string;
  @ApiProperty({ format: 'uuid' }) chatId: string;
  @ApiProperty({ enum: ['OWNER', 'ADMIN', 'MEMBER'] }) role: string;
  @ApiProperty({ format: 'date-time' }) joinedAt: string;
  @ApiProperty({ type: UserDto }) user: UserDto;
}

/** The Chat object of the wire contract. */
export class ChatDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ enum: ['DIRECT', 'GROUP', 'SECRET'] }) type: string;
  @ApiProperty({ type: String, nullable: true }) name: string | null;
  @ApiProperty({ type: String, nullable: true }) avatar: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ type: [ChatMemberDto] }) members: ChatMemberDto[];
  @ApiProperty({ type: MessageDto, nullable: true }) lastMessage: MessageDto | null;
  @ApiProperty() unread: number;
}

export class ChatPageDto {
  @ApiProperty({ type: [ChatDto] }) chats: ChatDto[];
  @ApiProperty({ type: String, nullable: true }) nextCursor: string | null;
}
