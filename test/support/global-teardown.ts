import { Client } from 'pg';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { EMBEDDED_TEMPLATE_ENV, templateDatabase, TEST_DATABASE_URL } from './env';

export default async function globalTeardown(): Promise<void> {
  const embeddedTemplate = process.env[EMBEDDED_TEMPLATE_ENV];
  if (embeddedTemplate) rmSync(dirname(embeddedTemplate), { recursive: true, force: true });
  if (!TEST_DATABASE_URL) return;
  const admin = new Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${templateDatabase()} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
