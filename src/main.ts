import 'reflect-metadata';
import { existsSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createApp } from './bootstrap';
import { AppConfig } from './core/config/app-config';
import { ConfigError } from './core/config/env.schema';

/** A stuck shutdown must not hang a deploy: the process exits within this time after SIGTERM. */
const SHUTDOWN_DEADLINE_MS = 10_000;

async function main(): Promise<void> {
  if (existsSync('.env') && process.env.NODE_ENV !== 'production') process.loadEnvFile('.env');
  const app = await createApp({ env: process.env });
  const { port } = app.get(AppConfig).values;
  await app.listen(port);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      // Stop accepting, close sockets (1001), drain workers, close pools — or give up after the deadline.
      setTimeout(() => process.exit(1), SHUTDOWN_DEADLINE_MS).unref();
      app.close().then(
        () => process.exit(0),
        (error: unknown) => {
          console.error(error);
          process.exit(1);
        },
      );
    });
  }
  const bound = (app.getHttpServer().address() as AddressInfo).port;
  console.log(JSON.stringify({ msg: 'H2V server listening', port: bound, docs: `http://localhost:${bound}/api/docs` }));
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
