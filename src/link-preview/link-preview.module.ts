import { Module } from '@nestjs/common';
import { AppConfig } from '../core/config/app-config';
import { OutboundPolicy } from '../core/outbound/outbound-policy';
import { RedisService } from '../core/redis/redis.service';
import { LinkPreviewController } from './link-preview.controller';
import { LinkPreviewFetcher } from './link-preview.fetcher';
import { LinkPreviewService } from './link-preview.service';
import { MemoryPreviewCache, PreviewCache, RedisPreviewCache } from './preview-cache';

/** GET /api/link-preview and its image proxy (wire-contract-v2.2 §10). */
@Module({
  controllers: [LinkPreviewController],
  providers: [
    LinkPreviewService,
    {
      provide: PreviewCache,
      inject: [AppConfig, RedisService],
      useFactory: (config: AppConfig, redis: RedisService) => (config.usesRedis ? new RedisPreviewCache(redis) : new MemoryPreviewCache()),
    },
    { provide: LinkPreviewFetcher, inject: [OutboundPolicy], useFactory: (policy: OutboundPolicy) => new LinkPreviewFetcher(policy) },
  ],
})
export class LinkPreviewModule {}
