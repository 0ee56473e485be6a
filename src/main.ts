import 'reflect-metadata';
import { existsSync } from 'node:fs';
import { createApp } from './bootstrap';
import { AppConfig } from './core/config/app-config';
import { ConfigError } from './core/config/env.schema';

/** A stuck shutdown must not hang a deploy: the process exits within this time after SIGTERM. */
const SHUTDOWN_DEADLINE_MS = 10_000;

async function main(): Promise<void> {
  if (existsSync('.env') && process.env.NODE_ENV !== 'production') process.loadEnvFile('.env');
  const app = await createApp({ env: process.env });
  const { port } = app.get(AppConfig).values;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => setTimeout(() => process.exit(1), SHUTDOWN_DEADLINE_MS).unref());
  }
  await app.listen(port);
  console.log(JSON.stringify({ msg: 'H2V server listening', port, docs: `http://localhost:${port}/api/docs` }));
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
