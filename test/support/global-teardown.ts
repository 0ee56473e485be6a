import { Client } from 'pg';
import { templateDatabase, TEST_DATABASE_URL } from './env';

export default async function globalTeardown(): Promise<void> {
  if (!TEST_DATABASE_URL) return;
  const admin = new Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${templateDatabase()} WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
