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
import { TypingSocket } from './typing.socket';

@Module({
  imports: [TypeOrmModule.forFeature([ChatEntity, ChatMemberEntity]), UsersModule, KeysModule, UploadsModule, PresenceModule, forwardRef(() => MessagesModule)],
  controllers: [ChatsController],
  providers: [ChatsRepository, ChatViews, ChatsService, TypingSocket],
  exports: [ChatsService, ChatsRepository],
})
export class ChatsModule {}
