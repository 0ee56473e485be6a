import 'reflect-metadata';
import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { coreImports, FEATURE_MODULES } from './app.module';
import { readConfig } from './core/config/config.module';
import { loadDotEnv } from './core/config/dot-env';
import { ConfigError } from './core/config/env.schema';
import { startupLogger } from './core/logging/logging.module';
import { exitOnSignals } from './core/shutdown';
import { RealtimeModule } from './realtime/realtime.module';

/**
 * Job workers without HTTP: `node dist/src/worker.js` next to API instances started with
 * WORKERS=off. Needs REDIS_URL and DATABASE_URL (without Redis, jobs run inside the API process),
 * and the API's APP_SECRET (mail jobs carry the code sealed with it).
 */
async function main(): Promise<void> {
  loadDotEnv();
  // Without them it would run jobs of nobody's queue against an embedded database of its own, or
  // with a secret of its own that opens none of the API's sealed mail jobs.
  const missing = ['REDIS_URL', 'DATABASE_URL', 'APP_SECRET'].filter((name) => !process.env[name]);
  if (missing.length) throw new ConfigError(missing.map((name) => `${name} is required for a separate worker process`));
  const env = { ...process.env, WORKERS: 'on' };
  const config = readConfig(env);

  @Module({ imports: [...coreImports({ env, config }), RealtimeModule, ...FEATURE_MODULES] })
  class WorkerModule {}

  // Start-up logs as it goes (see createApp).
  const app = await NestFactory.createApplicationContext(WorkerModule, { logger: startupLogger(config) });
  await app.init();
  exitOnSignals(app);
  console.log(JSON.stringify({ msg: 'H2V worker started' }));
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
