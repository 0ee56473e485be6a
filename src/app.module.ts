import { DynamicModule, Module, ModuleMetadata } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import type { DestinationStream } from 'pino';
import { AppConfigModule, readConfig } from './core/config/config.module';
import { AppConfigValues, Env } from './core/config/env.schema';
import { DatabaseModule } from './core/database/database.module';
import { AllExceptionsFilter } from './core/errors/all-exceptions.filter';
import { HealthModule } from './core/health/health.module';
import { createValidationPipe } from './core/http/validation';
import { LoggingModule } from './core/logging/logging.module';
import { MetricsEndpointModule, MetricsModule } from './core/metrics/metrics.module';
import { RateLimitModule } from './core/rate-limit/rate-limit.module';
import { RateLimiterModule } from './core/rate-limit/rate-limiter.module';
import { RedisModule } from './core/redis/redis.module';
import { OutboundModule } from './core/outbound/outbound.module';
import { AuthModule } from './auth/auth.module';
import { CryptoModule } from './core/crypto/crypto.module';
import { JobsModule } from './jobs/jobs.module';
import { MailModule } from './mail/mail.module';
import { UsersModule } from './users/users.module';
import { ChatsModule } from './chats/chats.module';
import { MessagesModule } from './messages/messages.module';
import { PresenceModule } from './presence/presence.module';
import { KeysModule } from './keys/keys.module';
import { ContactsModule } from './contacts/contacts.module';
import { RealtimeModule } from './realtime/realtime.module';
import { UploadsModule } from './uploads/uploads.module';
import { LinkPreviewModule } from './link-preview/link-preview.module';
import { ReportsModule } from './reports/reports.module';
import { ExportModule } from './export/export.module';
import { PushModule } from './push/push.module';
import { EventsModule } from './events/events.module';

export interface AppModuleOptions {
  env: Env;
  /** `env` as readConfig read it, when the caller needed it first (for its start-up logger); read here otherwise. */
  config?: AppConfigValues;
  /** Where log lines go (tests read them); stdout when omitted. */
  logDestination?: DestinationStream;
}

/** The infrastructure every process needs: config, logging, database, Redis, jobs, rate-limit counters, the outbound request filter. */
export function coreImports(options: AppModuleOptions): NonNullable<ModuleMetadata['imports']> {
  return [
    AppConfigModule.forRoot(options.config ?? readConfig(options.env)),
    LoggingModule.forRoot(options.logDestination),
    MetricsModule,
    DatabaseModule,
    RedisModule,
    CryptoModule,
    JobsModule,
    RateLimiterModule,
    OutboundModule,
  ];
}

/** The feature modules: the same list serves the API and the worker (processors live in features). */
export const FEATURE_MODULES: NonNullable<ModuleMetadata['imports']> = [
  MailModule,
  UsersModule,
  AuthModule,
  // Before ChatsModule: its routes are registered first, so `/api/chats/export/all` never reaches a `/api/chats/:id…` pattern.
  ExportModule,
  ChatsModule,
  MessagesModule,
  PresenceModule,
  KeysModule,
  ContactsModule,
  UploadsModule,
  LinkPreviewModule,
  ReportsModule,
  PushModule,
  EventsModule,
];

/** The HTTP + WebSocket application. */
@Module({})
export class AppModule {
  static forRoot(options: AppModuleOptions): DynamicModule {
    return {
      module: AppModule,
      imports: [...coreImports(options), RealtimeModule, RateLimitModule, HealthModule, MetricsEndpointModule, ...FEATURE_MODULES],
      providers: [
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
        { provide: APP_PIPE, useFactory: createValidationPipe },
      ],
    };
  }
}
