import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiCookieAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Auth, AuthContext } from '../auth/auth-context';
import { ApiEnvelope, ApiErrors } from '../core/http/api-docs';
import { ChatDto } from './dto/chat.dto';
import { CreateInviteLinkDto, InviteLinkDto, InvitePreviewDto, InviteRevokedDto } from './dto/invite-link.dto';
import { InviteLinksService } from './invite-links.service';

/**
 * Invite links of groups (wire-contract-v2.2 §6). Registered before ChatsController, so that
 * `/api/chats/join/…` and `/api/chats/invite/…` never reach its `/api/chats/:id…` routes.
 */
@ApiTags('chats')
@ApiCookieAuth()
@Controller('api/chats')
export class InviteLinksController {
  constructor(private readonly invites: InviteLinksService) {}

  @Get('join/:code')
  @ApiOperation({
    summary: 'Preview the group an invite code leads to (any signed-in user; someone removed from the group gets 403 FORBIDDEN, as their join would)',
  })
  @ApiEnvelope(InvitePreviewDto)
  @ApiErrors('UNAUTHORIZED', 'INVITE_NOT_FOUND', 'INVITE_EXPIRED', 'FORBIDDEN')
  preview(@Auth() auth: AuthContext, @Param('code') code: string): Promise<InvitePreviewDto> {
    return this.invites.preview(auth, code);
  }

  @Post('join/:code')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Join a group by invite code as MEMBER, counting one use (already a member: the chat, no use counted); ' +
      'the members get chat:updated, your sockets chat:new. Someone removed from the group gets 403 FORBIDDEN until an OWNER or ADMIN adds them back',
  })
  @ApiEnvelope(ChatDto)
  @ApiErrors('UNAUTHORIZED', 'INVITE_NOT_FOUND', 'INVITE_EXPIRED', 'GROUP_LIMIT_EXCEEDED', 'NOT_A_GROUP', 'FORBIDDEN')
  join(@Auth() auth: AuthContext, @Param('code') code: string): Promise<ChatDto> {
    return this.invites.join(auth, code);
  }

  @Delete('invite/:linkId')
  @ApiOperation({ summary: 'Revoke an invite link (OWNER or ADMIN of its group); repeating it answers the same' })
  @ApiEnvelope(InviteRevokedDto)
  @ApiErrors('UNAUTHORIZED', 'INVITE_NOT_FOUND', 'FORBIDDEN')
  revoke(@Auth() auth: AuthContext, @Param('linkId') linkId: string): Promise<InviteRevokedDto> {
    return this.invites.revoke(auth, linkId);
  }

  @Post(':id/invite')
  @ApiOperation({
    summary:
      'Create an invite link for a group (OWNER or ADMIN), optionally expiring or limited in uses. At most 20 active links: ' +
      'at 20, the oldest one never used is revoked to make room; INVITE_LINK_LIMIT only when all 20 have been used',
  })
  @ApiEnvelope(InviteLinkDto, { status: 201 })
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'CHAT_NOT_FOUND', 'NOT_A_GROUP', 'FORBIDDEN', 'INVITE_LINK_LIMIT')
  create(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: CreateInviteLinkDto): Promise<InviteLinkDto> {
    return this.invites.create(auth, id, body);
  }

  @Get(':id/invite')
  @ApiOperation({ summary: 'The active invite links of a group (not revoked, expired or used up), newest first (OWNER or ADMIN)' })
  @ApiEnvelope(InviteLinkDto, { isArray: true })
  @ApiErrors('UNAUTHORIZED', 'CHAT_NOT_FOUND', 'NOT_A_GROUP', 'FORBIDDEN')
  list(@Auth() auth: AuthContext, @Param('id') id: string): Promise<InviteLinkDto[]> {
    return this.invites.list(auth, id);
  }
}
