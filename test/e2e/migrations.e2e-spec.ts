import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { databaseUrl, TEST_DATABASE_URL } from '../support/env';
import { signUp } from '../support/factories';
import { createBackend, createTestApp, TestApp } from '../support/test-app';

async function onServer(text: string, url = TEST_DATABASE_URL!): Promise<any[]> {
  const client = new Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(text)).rows;
  } finally {
    await client.end();
  }
}

// Two instances need one shared PostgreSQL; embedded PGlite is one process's own database.
(TEST_DATABASE_URL ? describe : describe.skip)('migrations at boot', () => {
  it('lets two instances started at once on an empty database take turns: both serve, neither logs a failure, each migration runs once', async () => {
    const database = `h2v_empty_${process.pid}_${randomBytes(4).toString('hex')}`;
    await onServer(`CREATE DATABASE ${database}`);
    const env = { DATABASE_URL: databaseUrl(TEST_DATABASE_URL!, database) };
    const backend = await createBackend();
    // TypeOrmModule reports a failed start (e.g. a duplicate key from a concurrent CREATE TABLE) here, then retries.
    const errors = jest.spyOn(Logger.prototype, 'error');
    let apps: TestApp[] = [];
    try {
      apps = await Promise.all([createTestApp({ backend, env }), createTestApp({ backend, env })]);
      expect(errors.mock.calls).toEqual([]);

      for (const t of apps) {
        await t.http().get('/api/health').expect(200);
        const user = await signUp(t);
        await t.http().get('/api/users/me').set(user.auth).expect(200);
      }
      const expected = apps[0].app.get(DataSource).migrations.map((m) => m.name);
      const applied = await onServer('SELECT name FROM migrations ORDER BY id', env.DATABASE_URL);
      expect(applied.map((row) => row.name)).toEqual(expected);
    } finally {
      errors.mockRestore();
      await Promise.all(apps.map((t) => t.close()));
      await backend.close();
      await onServer(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    }
  });
});
