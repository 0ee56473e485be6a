import { Global, Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { AppConfig } from '../core/config/app-config';
import { MemorySlotStore } from '../core/rate-limit/memory-slot.store';
import { RedisSlotStore } from '../core/rate-limit/redis-slot.store';
import { SlotStore } from '../core/rate-limit/slot-store';
import { RedisService } from '../core/redis/redis.service';
import { ConnectionRegistry } from './connection-registry';
import { MemoryRealtimePublisher } from './memory-realtime.publisher';
import { MemoryPresenceStore } from './presence/memory-presence.store';
import { PresenceStore } from './presence/presence-store';
import { RedisPresenceStore } from './presence/redis-presence.store';
import { RealtimePublisher } from './realtime-publisher';
import { RedisRealtimePublisher } from './redis-realtime.publisher';
import { SessionWatch } from './session-watch';
import { SocketHandlers } from './socket-handlers';
import { SocketLimits } from './socket-limits';
import { WsGateway } from './ws.gateway';

/** The WebSocket gateway plus the two realtime ports features use: the publisher and presence. */
@Global()
@Module({
  imports: [DiscoveryModule],
  providers: [
    ConnectionRegistry,
    SocketHandlers,
    SocketLimits,
    WsGateway,
    SessionWatch,
    {
      provide: RealtimePublisher,
      inject: [AppConfig, RedisService, ConnectionRegistry],
      useFactory: (config: AppConfig, redis: RedisService, registry: ConnectionRegistry) =>
        config.usesRedis ? new RedisRealtimePublisher(redis, registry) : new MemoryRealtimePublisher(registry),
    },
    {
      provide: PresenceStore,
      inject: [AppConfig, RedisService],
      useFactory: (config: AppConfig, redis: RedisService) => (config.usesRedis ? new RedisPresenceStore(redis) : new MemoryPresenceStore()),
    },
    {
      provide: SlotStore,
      inject: [AppConfig, RedisService],
      useFactory: (config: AppConfig, redis: RedisService) => (config.usesRedis ? new RedisSlotStore(redis) : new MemorySlotStore()),
    },
  ],
  exports: [RealtimePublisher, PresenceStore, ConnectionRegistry],
})
export class RealtimeModule {}
