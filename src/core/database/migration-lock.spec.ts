import { Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { DataSource, MigrationInterface, QueryRunner } from 'typeorm';
import { databaseUrl, TEST_DATABASE_URL } from '../../../test/support/env';
import { eventually } from '../../../test/support/factories';
import { parseEnv } from '../config/env.schema';
import { dataSourceOptions } from './data-source';
import { MIGRATION_LOCK_TIMEOUT_MS, runPendingMigrations } from './migration-lock';

class CreateNotes1700000000001 implements MigrationInterface {
  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE TABLE notes (id integer PRIMARY KEY)`);
    await q.query(`CREATE TABLE others (id integer PRIMARY KEY)`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP TABLE notes, others`);
  }
}

/** Needs ACCESS EXCLUSIVE on `notes`: it waits for every transaction that read the table. */
class NoteTitles1700000000002 implements MigrationInterface {
  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE notes ADD COLUMN title text`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE notes DROP COLUMN title`);
  }
}

/** As the repository's index migrations: outside a transaction, an invalid index of a failed build dropped first. */
class NoteTitleIndex1700000000003 implements MigrationInterface {
  transaction = false;
  async up(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX CONCURRENTLY IF EXISTS notes_title_idx`);
    await q.query(`CREATE INDEX CONCURRENTLY notes_title_idx ON notes (title)`);
  }
  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX notes_title_idx`);
  }
}

async function connected(url: string): Promise<Client> {
  const client = new Client({ connectionString: url });
  await client.connect();
  return client;
}

describe('runPendingMigrations', () => {
  let dataDir: string;
  let url: string | null = null;
  const dataSources: DataSource[] = [];
  const clients: Client[] = [];

  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'h2v-mig-'));
    if (!TEST_DATABASE_URL) return;
    const database = `h2v_miglock_${process.pid}_${randomBytes(4).toString('hex')}`;
    const admin = await connected(TEST_DATABASE_URL);
    await admin.query(`CREATE DATABASE ${database}`).finally(() => admin.end());
    url = databaseUrl(TEST_DATABASE_URL, database);
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) await client.end();
    for (const dataSource of dataSources.splice(0)) await dataSource.destroy();
    rmSync(dataDir, { recursive: true, force: true });
    if (!url) return;
    const admin = await connected(TEST_DATABASE_URL!);
    await admin.query(`DROP DATABASE IF EXISTS ${new URL(url).pathname.slice(1)} WITH (FORCE)`).finally(() => admin.end());
    url = null;
  });

  /** The app's data source (PostgreSQL when DATABASE_URL is set, else PGlite) with these migrations and a pool of `max`. */
  async function dataSourceWith(migrations: Function[], max = 2): Promise<DataSource> {
    const config = parseEnv(url ? { DATABASE_URL: url, APP_SECRET: randomBytes(32).toString('base64url'), DATA_DIR: dataDir } : { DATA_DIR: dataDir });
    const options = dataSourceOptions(config, { entities: [] });
    const dataSource = new DataSource({ ...options, migrations, ...(url ? { extra: { ...(options as { extra: object }).extra, max } } : {}) });
    dataSources.push(await dataSource.initialize());
    return dataSource;
  }

  async function client(): Promise<Client> {
    const c = await connected(url!);
    clients.push(c);
    return c;
  }

  /** Resolves once a statement of the migration session starting with `prefix` waits for a lock. */
  async function waitingForLock(watcher: Client, prefix: string): Promise<void> {
    await eventually(async () => {
      const { rows } = await watcher.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE $1`, [`${prefix}%`]);
      expect(rows).toHaveLength(1);
    });
  }

  it('applies the pending migrations, returns them and gives the pooled session back its own lock_timeout', async () => {
    const dataSource = await dataSourceWith([CreateNotes1700000000001, NoteTitles1700000000002], 1);
    const [before] = await dataSource.query('SHOW lock_timeout');
    const applied = await runPendingMigrations(dataSource);
    expect(applied.map((m) => m.name)).toEqual(['CreateNotes1700000000001', 'NoteTitles1700000000002']);
    expect(await dataSource.query('SELECT id, title FROM notes')).toEqual([]);
    expect(await dataSource.query('SHOW lock_timeout')).toEqual([before]);
    expect(await runPendingMigrations(dataSource)).toEqual([]);
    // Embedded, the data source starts a new PGlite data directory: its initdb alone took 28 s of jest's default 30 under CI's load.
  }, 120_000);

  // Lock waits need a second session: embedded PGlite has one.
  (TEST_DATABASE_URL ? describe : describe.skip)('on PostgreSQL, while another transaction holds a lock the migration needs', () => {
    let warn: jest.SpyInstance;
    beforeEach(() => (warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined)));
    afterEach(() => warn.mockRestore());

    it('steps back so that plain reads of the table go on, warns, and applies the migration once that transaction ends', async () => {
      await runPendingMigrations(await dataSourceWith([CreateNotes1700000000001]));
      const holder = await client();
      await holder.query('BEGIN');
      await holder.query('SELECT * FROM notes');

      const running = runPendingMigrations(await dataSourceWith([CreateNotes1700000000001, NoteTitles1700000000002]));
      running.catch(() => undefined);
      try {
        const reader = await client();
        await waitingForLock(reader, 'ALTER TABLE notes');
        // Without a lock timeout the read queues behind the waiting ALTER until the holder ends: it would fail here.
        await reader.query(`SET statement_timeout = ${MIGRATION_LOCK_TIMEOUT_MS + 2_000}`);
        await expect(reader.query('SELECT count(*)::int AS n FROM notes')).resolves.toMatchObject({ rows: [{ n: 0 }] });
      } finally {
        await holder.query('COMMIT');
      }
      expect((await running).map((m) => m.name)).toEqual(['NoteTitles1700000000002']);
      expect((await holder.query('SELECT id, title FROM notes')).rows).toEqual([]);
      expect(warn.mock.calls.map(([message]) => message)).toContainEqual(expect.stringContaining('ALTER TABLE notes ADD COLUMN title text'));
    });

    it('lets an index built CONCURRENTLY wait for an older snapshot longer than the lock timeout, without stepping back', async () => {
      await runPendingMigrations(await dataSourceWith([CreateNotes1700000000001, NoteTitles1700000000002]));
      // A snapshot held as a backup (pg_dump) holds one, on a table the index is not for.
      const holder = await client();
      await holder.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await holder.query('SELECT * FROM others');

      const running = runPendingMigrations(await dataSourceWith([CreateNotes1700000000001, NoteTitles1700000000002, NoteTitleIndex1700000000003]));
      running.catch(() => undefined);
      try {
        const watcher = await client();
        await waitingForLock(watcher, 'CREATE INDEX CONCURRENTLY');
        await new Promise((resolve) => setTimeout(resolve, MIGRATION_LOCK_TIMEOUT_MS + 1_000));
      } finally {
        await holder.query('COMMIT');
      }
      expect((await running).map((m) => m.name)).toEqual(['NoteTitleIndex1700000000003']);
      expect(warn).not.toHaveBeenCalled();
      const { rows } = await holder.query(`SELECT indisvalid FROM pg_index WHERE indexrelid = 'notes_title_idx'::regclass`);
      expect(rows).toEqual([{ indisvalid: true }]);
    });
  });
});
