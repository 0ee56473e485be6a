import { DynamicModule, Global, Module } from '@nestjs/common';
import type { DestinationStream, Logger } from 'pino';
import { AppConfig } from '../config/app-config';
import { AppLogger } from './app-logger';
import { RequestLogging } from './request-log';
import { createRootLogger, ROOT_LOGGER } from './root-logger';

/** Nest's Logger is one per process (the last `useLogger` wins), so the root logger is too: the first app's. */
let processRoot: Logger | undefined;

/**
 * pino: JSON lines in production, pretty in development, a request id on every line of a
 * request (RequestLogging, applied by the HTTP pipeline), Nest's logger on top (AppLogger).
 * A test may pass its own destination stream to read the logs; the first app of a process
 * decides where every app of that process logs.
 */
@Global()
@Module({})
export class LoggingModule {
  static forRoot(destination?: DestinationStream): DynamicModule {
    return {
      module: LoggingModule,
      providers: [
        { provide: ROOT_LOGGER, inject: [AppConfig], useFactory: (config: AppConfig) => (processRoot ??= createRootLogger(config, destination)) },
        RequestLogging,
        AppLogger,
      ],
      exports: [ROOT_LOGGER, RequestLogging, AppLogger],
    };
  }
}
