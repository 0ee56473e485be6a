import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { coreImports, FEATURE_MODULES } from './app.module';
import { ConfigError } from './core/config/env.schema';
import { AppLogger } from './core/logging/app-logger';
import { exitOnSignals } from './core/shutdown';
import { RealtimeModule } from './realtime/realtime.module';

/**
 * Job workers without HTTP: `node dist/src/worker.js` next to API instances started with
 * WORKERS=off. Needs REDIS_URL (without Redis, jobs run inside the API process).
 */
async function main(): Promise<void> {
  if (existsSync('.env') && process.env.NODE_ENV !== 'production') process.loadEnvFile('.env');
  if (!process.env.REDIS_URL) throw new ConfigError(['REDIS_URL is required for a separate worker process']);
  const env = { ...process.env, WORKERS: 'on' };

  @Module({ imports: [...coreImports({ env }), RealtimeModule, ...FEATURE_MODULES] })
  class WorkerModule {}

  const app = await NestFactory.createApplicationContext(WorkerModule, { bufferLogs: true });
  app.useLogger(app.get(AppLogger));
  await app.init();
  exitOnSignals(app);
  console.log(JSON.stringify({ msg: 'H2V worker started' }));
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
