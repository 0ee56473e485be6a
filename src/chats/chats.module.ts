import { forwardRef, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { KeysModule } from '../keys/keys.module';
import { PresenceModule } from '../presence/presence.module';
import { MessagesModule } from '../messages/messages.module';
import { UploadsModule } from '../uploads/uploads.module';
import { UsersModule } from '../users/users.module';
import { ChatViews } from './chat-views';
import { ChatsController } from './chats.controller';
import { ChatsRepository } from './chats.repository';
import { ChatsService } from './chats.service';
import { ChatMemberEntity } from './entities/chat-member.entity';
import { ChatEntity } from './entities/chat.entity';
import { InviteLinksController } from './invite-links.controller';
import { InviteLinksRepository } from './invite-links.repository';
import { InviteLinksService } from './invite-links.service';
import { TypingSocket } from './typing.socket';
import { LapsedInviteLinks } from './lapsed-invite-links';

@Module({
  imports: [TypeOrmModule.forFeature([ChatEntity, ChatMemberEntity]), UsersModule, KeysModule, UploadsModule, PresenceModule, forwardRef(() => MessagesModule)],
  // Invite links first: their `join/…` and `invite/…` paths would otherwise match `:id/…` patterns.
  controllers: [InviteLinksController, ChatsController],
  providers: [ChatsRepository, ChatViews, ChatsService, InviteLinksRepository, InviteLinksService, LapsedInviteLinks, TypingSocket],
  exports: [ChatsService, ChatsRepository, TypingSocket],
})
export class ChatsModule {}
