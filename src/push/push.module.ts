import { Module } from '@nestjs/common';
import { AppConfig } from '../core/config/app-config';
import { RedisService } from '../core/redis/redis.service';
import { DeviceTokensService } from './device-tokens.service';
import { MemoryPushGate, PushGate, RedisPushGate } from './push-gate';
import { PushController } from './push.controller';
import { PushNotifier } from './push.notifier';
import { PushProcessor } from './push.processor';
import { PushRepository } from './push.repository';
import { WebPushSender } from './web-push.sender';

/**
 * Web Push: device tokens, and notifications of new messages to users with no open socket.
 * The send path calls PushNotifier; the rest runs in the `push` queue.
 */
@Module({
  controllers: [PushController],
  providers: [
    PushRepository,
    DeviceTokensService,
    PushNotifier,
    PushProcessor,
    WebPushSender,
    {
      provide: PushGate,
      inject: [AppConfig, RedisService],
      useFactory: (config: AppConfig, redis: RedisService) => (config.usesRedis ? new RedisPushGate(redis) : new MemoryPushGate()),
    },
  ],
  exports: [PushNotifier],
})
export class PushModule {}
