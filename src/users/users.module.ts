import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { UserSettingsEntity } from './entities/user-settings.entity';
import { UploadsModule } from '../uploads/uploads.module';
import { UserEntity } from './entities/user.entity';
import { UsersController } from './users.controller';
import { UsersRepository } from './users.repository';
import { UsersService } from './users.service';
import { InactiveAccounts } from './inactive-accounts';
import { BlockPolicy } from './block-policy';
import { PresenceModule } from '../presence/presence.module';

@Module({
  imports: [TypeOrmModule.forFeature([UserEntity, UserSettingsEntity]), UploadsModule, PresenceModule],
  controllers: [UsersController],
  providers: [UsersRepository, UsersService, BlockPolicy, InactiveAccounts],
  exports: [UsersService, BlockPolicy],
})
export class UsersModule {}
