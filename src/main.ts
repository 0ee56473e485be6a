import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { createApp } from './bootstrap';
import { AppConfig } from './core/config/app-config';
import { loadDotEnv } from './core/config/dot-env';
import { ConfigError } from './core/config/env.schema';
import { exitOnSignals } from './core/shutdown';

async function main(): Promise<void> {
  loadDotEnv();
  const app = await createApp({ env: process.env });
  const { port, apiDocs } = app.get(AppConfig).values;
  await app.listen(port);
  exitOnSignals(app, app.getHttpServer());
  const bound = (app.getHttpServer().address() as AddressInfo).port;
  console.log(JSON.stringify({ msg: 'H2V server listening', port: bound, docs: apiDocs ? `http://localhost:${bound}/api/docs` : 'off' }));
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? error.message : error);
  process.exit(1);
});
