import { forwardRef, Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { ChatsModule } from '../chats/chats.module';
import { PresenceModule } from '../presence/presence.module';
import { PushModule } from '../push/push.module';
import { UploadsModule } from '../uploads/uploads.module';
import { UsersModule } from '../users/users.module';
import { MessageEntity } from './entities/message.entity';
import { ReactionEntity } from './entities/reaction.entity';
import { MediaResolver } from './media-resolver';
import { MessageViews } from './message-views';
import { MessagesController } from './messages.controller';
import { MessagesRepository } from './messages.repository';
import { MessagesService } from './messages.service';
import { MessagesSocket } from './messages.socket';
import { SearchIndexUpkeep } from './search-index-upkeep';
import { SendBatcher } from './send-batcher';
import { SystemMessages } from './system-messages';

/**
 * Messages. Chats and messages need each other (a chat shows its last message; a message
 * checks chat membership), so the two modules import each other through forwardRef; their
 * providers do not form a cycle.
 */
@Module({
  imports: [TypeOrmModule.forFeature([MessageEntity, ReactionEntity]), UsersModule, UploadsModule, PresenceModule, PushModule, forwardRef(() => ChatsModule)],
  controllers: [MessagesController],
  providers: [MessagesRepository, MessageViews, MessagesService, MessagesSocket, MediaResolver, SystemMessages, SendBatcher, SearchIndexUpkeep],
  exports: [MessagesRepository, MessageViews, MessagesService, SystemMessages],
})
export class MessagesModule {}
