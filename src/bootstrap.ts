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
  configureApp(app);
  return app;
}
