import { Global, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { AppConfig } from '../core/config/app-config';
import { RedisService } from '../core/redis/redis.service';
import { BullmqJobQueue } from './bullmq.queue';
import { InlineJobQueue } from './inline.queue';
import { JobQueue } from './job-queue';
import { JobRegistry } from './job-registry';

/** Provides the JobQueue port: BullMQ when REDIS_URL is set, the in-process runner otherwise. */
@Global()
@Module({
  imports: [DiscoveryModule],
  providers: [
    JobRegistry,
    {
      provide: JobQueue,
      inject: [AppConfig, JobRegistry, RedisService],
      useFactory: (config: AppConfig, registry: JobRegistry, redis: RedisService) =>
        config.usesRedis ? new BullmqJobQueue(registry, redis, config) : new InlineJobQueue(registry),
    },
  ],
  exports: [JobQueue],
})
export class JobsModule {}
