import { DynamicModule, Global, Module } from '@nestjs/common';
import type { DestinationStream, Logger } from 'pino';
import { AppConfig } from '../config/app-config';
import type { AppConfigValues } from '../config/env.schema';
import { AppLogger } from './app-logger';
import { RequestLogging } from './request-log';
import { createRootLogger, ROOT_LOGGER } from './root-logger';

/** Nest's Logger is one per process (the last `useLogger` wins), so the root logger is too: the first app's. */
let processRoot: Logger | undefined;

function processRootLogger(config: AppConfigValues, destination?: DestinationStream): Logger {
  return (processRoot ??= createRootLogger(config, destination));
}

/**
 * The logger an app is created with (NestFactory's `logger`), before its modules exist: the
 * process's root logger, so what start-up logs (a database retried, migrations run) goes out
 * as it happens, in the same format as every later line. The app's own AppLogger replaces it
 * once built, to name the request of lines logged during one.
 */
export function startupLogger(config: AppConfigValues, destination?: DestinationStream): AppLogger {
  return new AppLogger(processRootLogger(config, destination));
}

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
        { provide: ROOT_LOGGER, inject: [AppConfig], useFactory: (config: AppConfig) => processRootLogger(config.values, destination) },
        RequestLogging,
        AppLogger,
      ],
      exports: [ROOT_LOGGER, RequestLogging, AppLogger],
    };
  }
}
