import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Put, Query, Res } from '@nestjs/common';
import { ApiCookieAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Auth, AuthContext } from '../auth/auth-context';
import { ApiEnvelope, ApiErrors } from '../core/http/api-docs';
import { ChatsService } from './chats.service';
import { ArchiveStateDto, ChatDeletedDto, ChatDto, MemberLeftDto, ChatPageDto, DraftClearedDto, DraftDto, MuteStateDto, PinStateDto } from './dto/chat.dto';
import { AddMembersDto, ArchiveChatDto, ChangeRoleDto, PinMessageDto, ChatListQuery, DirectChatDto, GroupChatDto, MuteChatDto, PinChatDto, SaveDraftDto, UpdateChatDto } from './dto/chat-requests.dto';

@ApiTags('chats')
@ApiCookieAuth()
@Controller('api/chats')
export class ChatsController {
  constructor(private readonly chats: ChatsService) {}

  @Get()
  @ApiOperation({
    summary:
      'Your chats: pinned first (oldest pin first), then by newest activity. Without `limit` every chat is listed; ' +
      'with it, a page and a keyset `nextCursor`. `archived=true` lists your archive instead',
  })
  @ApiEnvelope(ChatPageDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR')
  list(@Auth() auth: AuthContext, @Query() query: ChatListQuery): Promise<ChatPageDto> {
    return this.chats.list(auth, query);
  }

  @Post('saved')
  @ApiOperation({ summary: 'Your saved messages (a SELF chat, one per user): 201 when created (your sockets get chat:new), 200 after that' })
  @ApiEnvelope(ChatDto, { status: 201, description: 'Created' })
  @ApiEnvelope(ChatDto, { status: 200, description: 'It already existed' })
  @ApiErrors('UNAUTHORIZED')
  async saved(@Auth() auth: AuthContext, @Res({ passthrough: true }) response: Response): Promise<ChatDto> {
    const { chat, created } = await this.chats.saved(auth);
    response.status(created ? 201 : 200);
    return chat;
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
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'USER_NOT_FOUND', 'GROUP_LIMIT_EXCEEDED', 'BLOCKED', 'PRIVACY_GROUP_INVITE', 'MEDIA_NOT_FOUND')
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
  @ApiOperation({ summary: 'Rename a group, change its avatar or description (OWNER or ADMIN); members get chat:updated' })
  @ApiEnvelope(ChatDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'CHAT_NOT_FOUND', 'NOT_A_GROUP', 'FORBIDDEN', 'MEDIA_NOT_FOUND')
  update(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: UpdateChatDto): Promise<ChatDto> {
    return this.chats.update(auth, id, body);
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Delete a group with its messages, media and links (OWNER only); every member gets chat:deleted' })
  @ApiEnvelope(ChatDeletedDto)
  @ApiErrors('UNAUTHORIZED', 'CHAT_NOT_FOUND', 'NOT_A_GROUP', 'FORBIDDEN')
  deleteGroup(@Auth() auth: AuthContext, @Param('id') id: string): Promise<ChatDeletedDto> {
    return this.chats.deleteGroup(auth, id);
  }

  @Patch(':id/pin')
  @ApiOperation({
    summary: "Pin a message of the chat (any member; not a group event) or unpin with null; all members get chat:updated {id, pinnedMessageId}",
  })
  @ApiEnvelope(ChatDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'BLOCKED', 'CHAT_NOT_FOUND', 'MESSAGE_NOT_FOUND')
  pinMessage(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: PinMessageDto): Promise<ChatDto> {
    return this.chats.pinMessage(auth, id, body.messageId);
  }

  @Patch(':id/members/:userId/role')
  @ApiOperation({ summary: 'Make a member an ADMIN or an ADMIN a member (OWNER only); all members get the group event and chat:updated' })
  @ApiEnvelope(ChatDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'CHAT_NOT_FOUND', 'NOT_A_GROUP', 'FORBIDDEN', 'CANNOT_CHANGE_OWNER', 'MEMBER_NOT_FOUND')
  changeRole(@Auth() auth: AuthContext, @Param('id') id: string, @Param('userId') userId: string, @Body() body: ChangeRoleDto): Promise<ChatDto> {
    return this.chats.changeRole(auth, id, userId, body.role);
  }

  @Patch(':id/mute')
  @ApiOperation({ summary: 'Mute (until 9999-12-31T23:59:59.000Z) or unmute a chat for yourself; your sockets get chat:updated' })
  @ApiEnvelope(MuteStateDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'CHAT_NOT_FOUND')
  mute(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: MuteChatDto): Promise<MuteStateDto> {
    return this.chats.mute(auth, id, body.muted);
  }

  @Patch(':id/pin-chat')
  @ApiOperation({ summary: 'Pin a chat on top of your list (at most 5 in the list or in the archive) or unpin it; your sockets get chat:updated' })
  @ApiEnvelope(PinStateDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'CHAT_NOT_FOUND', 'PIN_LIMIT')
  pinChat(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: PinChatDto): Promise<PinStateDto> {
    return this.chats.pin(auth, id, body.pinned);
  }

  @Patch(':id/archive')
  @ApiOperation({ summary: 'Move a chat into your archive (GET /api/chats?archived=true) or back; your sockets get chat:updated' })
  @ApiEnvelope(ArchiveStateDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'CHAT_NOT_FOUND')
  archive(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: ArchiveChatDto): Promise<ArchiveStateDto> {
    return this.chats.archive(auth, id, body.archived);
  }

  @Put(':id/draft')
  @ApiOperation({ summary: 'Save your draft of a chat (not in secret chats); your sockets get draft:updated' })
  @ApiEnvelope(DraftDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'CHAT_NOT_FOUND', 'SECRET_CHAT_RESTRICTED')
  saveDraft(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: SaveDraftDto): Promise<DraftDto> {
    return this.chats.saveDraft(auth, id, body);
  }

  @Delete(':id/draft')
  @ApiOperation({ summary: 'Delete your draft of a chat (idempotent); your sockets get draft:updated with text null when there was one' })
  @ApiEnvelope(DraftClearedDto)
  @ApiErrors('UNAUTHORIZED', 'CHAT_NOT_FOUND')
  deleteDraft(@Auth() auth: AuthContext, @Param('id') id: string): Promise<DraftClearedDto> {
    return this.chats.deleteDraft(auth, id);
  }

  @Post(':id/members')
  @HttpCode(200)
  @ApiOperation({ summary: 'Add members to a group (OWNER or ADMIN); they get chat:new, the others chat:updated' })
  @ApiEnvelope(ChatDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'CHAT_NOT_FOUND', 'NOT_A_GROUP', 'FORBIDDEN', 'USER_NOT_FOUND', 'GROUP_LIMIT_EXCEEDED', 'BLOCKED', 'PRIVACY_GROUP_INVITE')
  addMembers(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: AddMembersDto): Promise<ChatDto> {
    return this.chats.addMembers(auth, id, body);
  }

  @Delete(':id/members/:userId')
  @ApiOperation({
    summary: 'Remove a member (OWNER: anyone but themselves; ADMIN: MEMBERs); they get chat:deleted, the others the group event and chat:member-left',
  })
  @ApiEnvelope(MemberLeftDto)
  @ApiErrors('UNAUTHORIZED', 'CHAT_NOT_FOUND', 'NOT_A_GROUP', 'FORBIDDEN', 'MEMBER_NOT_FOUND')
  removeMember(@Auth() auth: AuthContext, @Param('id') id: string, @Param('userId') userId: string): Promise<MemberLeftDto> {
    return this.chats.removeMember(auth, id, userId);
  }

  @Delete(':id/leave')
  @ApiOperation({
    summary: 'Leave a group (an OWNER hands it to the earliest ADMIN, else the earliest member; the last one out deletes it), or remove a direct/secret chat for both',
  })
  @ApiEnvelope(null)
  @ApiErrors('UNAUTHORIZED', 'CHAT_NOT_FOUND')
  async leave(@Auth() auth: AuthContext, @Param('id') id: string): Promise<null> {
    await this.chats.leave(auth, id);
    return null;
  }
}
