import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Query } from '@nestjs/common';
import { ApiCookieAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Auth, AuthContext } from '../auth/auth-context';
import { SharedQuery } from '../chats/dto/chat-requests.dto';
import { AppError } from '../core/errors';
import { ApiEnvelope, ApiErrors } from '../core/http/api-docs';
import {
  ALLOWED_REACTIONS,
  AroundQuery,
  DeleteQuery,
  DeleteResultDto,
  EditMessageDto,
  HideResultDto,
  HistoryQuery,
  normaliseEmoji,
  ReactionRequestDto,
  ReadResultDto,
  SearchQuery,
} from './dto/message-requests.dto';
import { MessageDto, MessagePageDto, ReactionDto, SharedPageDto } from './dto/message.dto';
import { MessagesService } from './messages.service';

@ApiTags('messages')
@ApiCookieAuth()
@Controller('api')
export class MessagesController {
  constructor(private readonly messages: MessagesService) {}

  @Get('chats/:chatId/messages')
  @ApiOperation({
    summary: 'History, newest first; `cursor` = the oldest id shown; `q` = search as you type (word prefixes); `from`, `to`, `senderId`, `type` filter (AND). Messages you hid are left out',
  })
  @ApiEnvelope(MessagePageDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'CHAT_NOT_FOUND')
  history(@Auth() auth: AuthContext, @Param('chatId') chatId: string, @Query() query: HistoryQuery): Promise<MessagePageDto> {
    return this.messages.history(auth.userId, chatId, query);
  }

  @Get('chats/:chatId/messages/around')
  @ApiOperation({
    summary: 'Jump to a date: the `limit` oldest messages at or after `date`, filled up with the newest before it, newest first; `nextCursor` = the oldest id returned while older history exists',
  })
  @ApiEnvelope(MessagePageDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'CHAT_NOT_FOUND')
  around(@Auth() auth: AuthContext, @Param('chatId') chatId: string, @Query() query: AroundQuery): Promise<MessagePageDto> {
    return this.messages.around(auth.userId, chatId, query);
  }

  @Get('chats/:chatId/shared')
  @ApiOperation({ summary: 'Shared media of a chat by `type` (or the web client\'s `tab`), newest first' })
  @ApiEnvelope(SharedPageDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'CHAT_NOT_FOUND')
  shared(@Auth() auth: AuthContext, @Param('chatId') chatId: string, @Query() query: SharedQuery): Promise<SharedPageDto> {
    return this.messages.shared(auth.userId, chatId, query);
  }

  @Get('messages/search')
  @ApiOperation({ summary: 'Search as you type across your chats: every word of `q` is a case-insensitive word prefix, newest first (secret chats and messages you hid excluded)' })
  @ApiEnvelope(MessagePageDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR')
  search(@Auth() auth: AuthContext, @Query() query: SearchQuery): Promise<MessagePageDto> {
    return this.messages.search(auth.userId, query);
  }

  @Patch('messages/:id')
  @ApiOperation({ summary: 'Edit your message: a text message\'s text, a media message\'s caption ("" removes it); secret chats: a text message\'s ciphertext. Members get message:edited' })
  @ApiEnvelope(MessageDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'MESSAGE_NOT_FOUND', 'BLOCKED', 'NOT_MESSAGE_AUTHOR', 'PLAINTEXT_IN_SECRET_CHAT', 'CIPHERTEXT_REQUIRED', 'FORBIDDEN')
  edit(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: EditMessageDto): Promise<MessageDto> {
    return this.messages.edit(auth.userId, id, body);
  }

  @Delete('messages/:id')
  @ApiOperation({
    summary:
      'forEveryone=true (or absent): delete permanently for everyone — the sender, or in a group the OWNER (any message) and ADMINs (not the OWNER\'s); every member gets message:deleted. forEveryone=false: hide it for you only, as POST /messages/:id/hide',
  })
  @ApiEnvelope(DeleteResultDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'MESSAGE_NOT_FOUND', 'BLOCKED', 'FORBIDDEN')
  async delete(@Auth() auth: AuthContext, @Param('id') id: string, @Query() query: DeleteQuery): Promise<DeleteResultDto> {
    await this.messages.delete(auth.userId, id, query.forEveryone ?? true);
    return { messageId: id };
  }

  @Post('messages/:id/hide')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Delete for me: the message leaves your history, search, shared media, unread count and last message (nobody else\'s); idempotent; your sockets get message:deleted with your new last message',
  })
  @ApiEnvelope(HideResultDto)
  @ApiErrors('UNAUTHORIZED', 'MESSAGE_NOT_FOUND', 'FORBIDDEN')
  hide(@Auth() auth: AuthContext, @Param('id') id: string): Promise<HideResultDto> {
    return this.messages.hide(auth.userId, id);
  }

  @Post('messages/:id/read')
  @HttpCode(200)
  @ApiOperation({ summary: 'Mark everything up to this message read; members the reader\'s showReadReceipts allows get message:read' })
  @ApiEnvelope(ReadResultDto)
  @ApiErrors('UNAUTHORIZED', 'MESSAGE_NOT_FOUND', 'BLOCKED')
  read(@Auth() auth: AuthContext, @Param('id') id: string): Promise<ReadResultDto> {
    return this.messages.markRead(auth.userId, id);
  }

  @Post('messages/:id/reactions')
  @HttpCode(200)
  @ApiOperation({ summary: `React (one of ${ALLOWED_REACTIONS.join(' ')}); idempotent; members get reaction:added` })
  @ApiEnvelope(ReactionDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'MESSAGE_NOT_FOUND', 'BLOCKED', 'FORBIDDEN')
  react(@Auth() auth: AuthContext, @Param('id') id: string, @Body() body: ReactionRequestDto): Promise<ReactionDto> {
    return this.messages.addReaction(auth.userId, id, body.emoji);
  }

  @Delete('messages/:id/reactions/:emoji')
  @ApiOperation({ summary: 'Remove your reaction (emoji URL-encoded); members get reaction:removed' })
  @ApiEnvelope(null)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'MESSAGE_NOT_FOUND', 'BLOCKED')
  async unreact(@Auth() auth: AuthContext, @Param('id') id: string, @Param('emoji') emoji: string): Promise<null> {
    const normalised = normaliseEmoji(emoji);
    if (!(ALLOWED_REACTIONS as readonly string[]).includes(normalised)) {
      throw new AppError('VALIDATION_ERROR', undefined, { errors: { emoji: [`emoji must be one of ${ALLOWED_REACTIONS.join(' ')}`] } });
    }
    await this.messages.removeReaction(auth.userId, id, normalised);
    return null;
  }
}
