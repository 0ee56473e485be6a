import { Global, Module } from '@nestjs/common';
import { DecoratedMethodsModule } from '../core/discovery/decorated-methods.module';
import { AppConfig } from '../core/config/app-config';
import { Metrics } from '../core/metrics/metrics';
import { RedisService } from '../core/redis/redis.service';
import { BullmqJobQueue } from './bullmq.queue';
import { InlineJobQueue } from './inline.queue';
import { JobQueue } from './job-queue';
import { JobRegistry } from './job-registry';

/** Provides the JobQueue port: BullMQ when REDIS_URL is set, the in-process runner otherwise. */
@Global()
@Module({
  imports: [DecoratedMethodsModule],
  providers: [
    JobRegistry,
    {
      provide: JobQueue,
      inject: [AppConfig, JobRegistry, RedisService, Metrics],
      useFactory: (config: AppConfig, registry: JobRegistry, redis: RedisService, metrics: Metrics) => {
        const queue = config.usesRedis ? new BullmqJobQueue(registry, redis, config) : new InlineJobQueue(registry);
        metrics.addCollector(async () => {
          for (const { queue: name, state, count } of await queue.depth()) metrics.queueJobs.set({ queue: name, state }, count);
        });
        return queue;
      },
    },
  ],
  exports: [JobQueue],
})
export class JobsModule {}
