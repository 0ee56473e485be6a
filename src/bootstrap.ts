import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule, AppModuleOptions } from './app.module';
import { readConfig } from './core/config/config.module';
import { AppExpressAdapter } from './core/http/app-express.adapter';
import { configureApp } from './core/http/configure-app';
import { AppLogger } from './core/logging/app-logger';
import { startupLogger } from './core/logging/logging.module';

/** Builds the configured application without listening; shared by main.ts, tests and benchmarks. */
export async function createApp(options: AppModuleOptions): Promise<INestApplication> {
  const config = readConfig(options.env);
  // Start-up logs as it goes, as JSON in production: a database that does not answer is retried
  // for half a minute, and the operator sees each try then, not all of them when start-up ends.
  const logger = startupLogger(config, options.logDestination);
  const app = await NestFactory.create(AppModule.forRoot({ ...options, config }), new AppExpressAdapter(), { bodyParser: false, logger });
  app.useLogger(app.get(AppLogger));
  configureApp(app);
  return app;
}
