import { INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { AppModule, AppModuleOptions } from './app.module';
import { AppExpressAdapter } from './core/http/app-express.adapter';
import { configureApp } from './core/http/configure-app';
import { AppLogger } from './core/logging/app-logger';

/** Builds the configured application without listening; shared by main.ts, tests and benchmarks. */
export async function createApp(options: AppModuleOptions): Promise<INestApplication> {
  const app = await NestFactory.create(AppModule.forRoot(options), new AppExpressAdapter(), { bodyParser: false, bufferLogs: true });
  app.useLogger(app.get(AppLogger));
  // What was held while the modules were built (a database retried, migrations run) goes out now,
  // and start-up's later steps (connections awaited in bootstrap hooks) log as they happen, not
  // all at once when start-up ends, or never when it hangs.
  app.flushLogs();
  configureApp(app);
  return app;
}
