import { Global, Module } from '@nestjs/common';
import { DecoratedMethodsModule } from '../core/discovery/decorated-methods.module';
import { AppConfig } from '../core/config/app-config';
import { Metrics } from '../core/metrics/metrics';
import { MemorySlotStore } from '../core/rate-limit/memory-slot.store';
import { RedisSlotStore } from '../core/rate-limit/redis-slot.store';
import { SlotStore } from '../core/rate-limit/slot-store';
import { RedisService } from '../core/redis/redis.service';
import { ConnectionRegistry } from './connection-registry';
import { EventLog } from './event-log/event-log';
import { EventReplay } from './event-log/event-replay';
import { MemoryEventLog } from './event-log/memory-event-log';
import { RedisEventLog } from './event-log/redis-event-log';
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

/** The WebSocket gateway plus the realtime ports features use: the publisher, presence and each user's event log. */
@Global()
@Module({
  imports: [DecoratedMethodsModule],
  providers: [
    ConnectionRegistry,
    SocketHandlers,
    SocketLimits,
    WsGateway,
    SessionWatch,
    EventReplay,
    {
      provide: EventLog,
      inject: [AppConfig, RedisService],
      useFactory: (config: AppConfig, redis: RedisService) => {
        const limits = { maxEvents: config.values.eventLogMaxEvents, maxAgeMs: config.values.eventLogMaxAgeSeconds * 1000 };
        return config.usesRedis ? new RedisEventLog(redis, limits) : new MemoryEventLog(limits);
      },
    },
    {
      provide: RealtimePublisher,
      inject: [AppConfig, RedisService, ConnectionRegistry, Metrics, EventLog, EventReplay],
      useFactory: (config: AppConfig, redis: RedisService, registry: ConnectionRegistry, metrics: Metrics, log: EventLog, replay: EventReplay) =>
        config.usesRedis ? new RedisRealtimePublisher(redis, registry, metrics, log, replay) : new MemoryRealtimePublisher(registry, log),
    },
    {
      provide: PresenceStore,
      inject: [AppConfig, RedisService, ConnectionRegistry],
      useFactory: (config: AppConfig, redis: RedisService, registry: ConnectionRegistry) =>
        config.usesRedis ? new RedisPresenceStore(redis, registry) : new MemoryPresenceStore(),
    },
    {
      provide: SlotStore,
      inject: [AppConfig, RedisService],
      useFactory: (config: AppConfig, redis: RedisService) => (config.usesRedis ? new RedisSlotStore(redis) : new MemorySlotStore()),
    },
  ],
  exports: [RealtimePublisher, PresenceStore, ConnectionRegistry, EventLog],
})
export class RealtimeModule {}
