import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { UsersModule } from '../users/users.module';
import { KeyBundleEntity } from './entities/key-bundle.entity';
import { OneTimePreKeyEntity } from './entities/one-time-prekey.entity';
import { KeysController } from './keys.controller';
import { KeysRepository } from './keys.repository';
import { KeysService } from './keys.service';

/** Signal Protocol key distribution: bundles and one-time prekeys handed out at most once. */
@Module({
  imports: [TypeOrmModule.forFeature([KeyBundleEntity, OneTimePreKeyEntity]), UsersModule],
  controllers: [KeysController],
  providers: [KeysRepository, KeysService],
  exports: [KeysService],
})
export class KeysModule {}
