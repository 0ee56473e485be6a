import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from '../../src/core/config/env.schema';
import { dataSourceOptions } from '../../src/core/database/data-source';
import { templateDatabase, TEST_DATABASE_URL, databaseUrl } from './env';

/**
 * With Postgres: migrate a template database once; every test file then clones it
 * (CREATE DATABASE … TEMPLATE), so files run in parallel on their own data.
 */
export default async function globalSetup(): Promise<void> {
  if (!TEST_DATABASE_URL) return;
  const admin = new Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${templateDatabase()} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${templateDatabase()}`);
  } finally {
    await admin.end();
  }
  const config = parseEnv({ DATABASE_URL: databaseUrl(TEST_DATABASE_URL, templateDatabase()), DATA_DIR: mkdtempSync(join(tmpdir(), 'h2v-tpl-')) });
  const dataSource = new DataSource({ ...dataSourceOptions(config, { entities: [] }), extra: { max: 1 } });
  await dataSource.initialize();
  await dataSource.runMigrations({ transaction: 'each' });
  await dataSource.destroy();
}
