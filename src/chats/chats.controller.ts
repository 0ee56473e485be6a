import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiCookieAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Auth, AuthContext } from '../auth/auth-context';
import { ApiEnvelope, ApiErrors } from '../core/http/api-docs';
import { ChatsService } from './chats.service';
import { ChatDto, ChatPageDto } from './dto/chat.dto';
import { AddMembersDto, ChatListQuery, DirectChatDto, GroupChatDto, UpdateChatDto } from './dto/chat-requests.dto';

@ApiTags('chats')
@ApiCookieAuth()
@Controller('api/chats')
export class ChatsController {
  constructor(private readonly chats: ChatsService) {}

  @Get()
  @ApiOperation({ summary: 'Your chats, newest activity first (keyset cursor); `archived=true` lists archived ones' })
  @ApiEnvelope(ChatPageDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR')
  list(@Auth() auth: AuthContext, @Query() query: ChatListQuery): Promise<ChatPageDto> {
    return this.chats.list(auth, query);
  }

  @Post('direct')
  @HttpCode(200)
  @ApiOperation({ summary: 'Find or create the direct chat with a user; they see it once the first message arrives' })
  @ApiEnvelope(ChatDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'CANNOT_TARGET_SELF', 'USER_NOT_FOUND', 'BLOCKED')
  direct(@Auth() auth: AuthContext, @Body() body: DirectChatDto): Promise<ChatDto> {
    return this.chats.openPair(auth, body.targetUserId, 'DIRECT');
  }

  @Post('secret')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Find or create the end-to-end encrypted chat with a user (one per pair); it carries ciphertext + signalType only',
  })
  @ApiEnvelope(ChatDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'CANNOT_TARGET_SELF', 'USER_NOT_FOUND', 'BLOCKED', { code: 'BUNDLE_NOT_FOUND', status: 409 })
  secret(@Auth() auth: AuthContext, @Body() body: DirectChatDto): Promise<ChatDto> {
    return this.chats.openPair(auth, body.targetUserId, 'SECRET');
  }

  @Post('group')
  @ApiOperation({ summary: 'Create a group (you are OWNER; at most 200 members); members get chat:new' })
  @ApiEnvelope(ChatDto, { status: 201 })
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'USER_NOT_FOUND', 'GROUP_TOO_LARGE', 'BLOCKED', 'MEDIA_NOT_FOUND')
  group(@Auth() auth: AuthContext, @Body() body: GroupChatDto): Promise<ChatDto> {
    return this.chats.createGroup(auth, body);
  }

  @Get(':id')
  @ApiOperation({ summary: 'One chat' })
  @ApiEnvelope(ChatDto)
  @ApiErrors('UNAUTHORIZED', 'CHAT_NOT_FOUND')
  get(@Auth() auth: AuthContext, @Param('id') id: string): Promise<ChatDto> {
    return this.chats.get(auth, id);
  }

  @Patch(':id')
  @ApiOperation({ summary: 'Rename or change the avatar of a group (OWNER or ADMIN); members get chat:updated' })
  @ApiEnvelope(ChatDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'CHAT_NOT_FOUND', 'NOT_A_GROUP', 'NOT_CHAT_ADMIN', 'MEDIA_NOT_FOUND')
  update(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: UpdateChatDto): Promise<ChatDto> {
    return this.chats.update(auth, id, body);
  }

  @Post(':id/members')
  @HttpCode(200)
  @ApiOperation({ summary: 'Add members to a group (OWNER or ADMIN); they get chat:new, the others chat:updated' })
  @ApiEnvelope(ChatDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'CHAT_NOT_FOUND', 'NOT_A_GROUP', 'NOT_CHAT_ADMIN', 'USER_NOT_FOUND', 'GROUP_TOO_LARGE', 'BLOCKED')
  addMembers(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: AddMembersDto): Promise<ChatDto> {
    return this.chats.addMembers(auth, id, body);
  }

  @Delete(':id/members/:userId')
  @ApiOperation({ summary: 'Remove a member (OWNER: anyone; ADMIN: members); they get chat:deleted' })
  @ApiEnvelope(null)
  @ApiErrors('UNAUTHORIZED', 'CHAT_NOT_FOUND', 'NOT_A_GROUP', 'NOT_CHAT_ADMIN', 'USER_NOT_FOUND')
  async removeMember(@Auth() auth: AuthContext, @Param('id') id: string, @Param('userId') userId: string): Promise<null> {
    await this.chats.removeMember(auth, id, userId);
    return null;
  }

  @Delete(':id/leave')
  @ApiOperation({ summary: 'Leave a group (ownership passes on), or remove a direct/secret chat for both' })
  @ApiEnvelope(null)
  @ApiErrors('UNAUTHORIZED', 'CHAT_NOT_FOUND')
  async leave(@Auth() auth: AuthContext, @Param('id') id: string): Promise<null> {
    await this.chats.leave(auth, id);
    return null;
  }
}
