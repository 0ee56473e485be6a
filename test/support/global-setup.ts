import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from '../../src/core/config/env.schema';
import { dataSourceOptions } from '../../src/core/database/data-source';
import { EMBEDDED_TEMPLATE_ENV, templateDatabase, TEST_DATABASE_URL, TEST_REDIS_CLUSTER_NODES, TEST_REDIS_URL, databaseUrl } from './env';

/**
 * With Postgres: migrate a template database once; every test file then clones it
 * (CREATE DATABASE … TEMPLATE), so files run in parallel on their own data.
 */
export default async function globalSetup(): Promise<void> {
  if (TEST_REDIS_URL && !TEST_REDIS_CLUSTER_NODES) {
    process.stdout.write('\nThe Redis Cluster runs of the multi-instance suites are skipped: REDIS_CLUSTER_TEST_NODES is unset (.ci/redis-cluster starts one and prints it).\n');
  }
  if (!TEST_DATABASE_URL) return migrateEmbeddedTemplate();
  const admin = new Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${templateDatabase()} WITH (FORCE)`);
    await admin.query(`CREATE DATABASE ${templateDatabase()}`);
  } finally {
    await admin.end();
  }
  // Migrating uses no secret, but a configuration with DATABASE_URL must name one.
  const config = parseEnv({ DATABASE_URL: databaseUrl(TEST_DATABASE_URL, templateDatabase()), APP_SECRET: randomBytes(32).toString('base64url'), DATA_DIR: mkdtempSync(join(tmpdir(), 'h2v-tpl-')) });
  const dataSource = new DataSource({ ...dataSourceOptions(config, { entities: [] }), extra: { max: 1 } });
  await dataSource.initialize();
  await dataSource.runMigrations({ transaction: 'each' });
  await dataSource.destroy();
}

/**
 * Embedded: the same once for PGlite. Every test app starts on a copy of this migrated data
 * directory instead of running every migration on an empty one (seconds per app otherwise).
 */
async function migrateEmbeddedTemplate(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'h2v-tpl-'));
  const dataSource = new DataSource(dataSourceOptions(parseEnv({ DATA_DIR: dataDir }), { entities: [] }));
  await dataSource.initialize();
  await dataSource.runMigrations({ transaction: 'each' });
  await dataSource.destroy();
  process.env[EMBEDDED_TEMPLATE_ENV] = join(dataDir, 'db');
}
