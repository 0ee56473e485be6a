import 'reflect-metadata';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { DataSourceOptions } from 'typeorm';
import { lockDataDir } from './data-dir-lock';
import { installTimestampParser } from './pg-timestamps';
import { pgliteDriver } from './pglite-driver';
import { AppConfigValues, embeddedDatabaseDir } from '../config/env.schema';

/** Migrations live at the top level (`migrations/`), compiled beside `dist/core`. */
const MIGRATIONS_DIR = join(__dirname, '..', '..', '..', 'migrations');
const ENTITIES_GLOB = join(__dirname, '..', '..', '**', '*.entity.{js,ts}');

/**
 * The one description of the database, used by the app and by the migration CLI:
 * PostgreSQL through `pg` with a sized pool when DATABASE_URL is set, else embedded PGlite
 * persisted in DATA_DIR/db. The same migrations run on both; synchronize is never on.
 */
export function dataSourceOptions(config: AppConfigValues, extra: { entities?: DataSourceOptions['entities'] } = {}): DataSourceOptions {
  const common = {
    type: 'postgres' as const,
    synchronize: false,
    migrationsRun: false,
    migrations: loadMigrations(),
    migrationsTransactionMode: 'each' as const,
    entities: extra.entities ?? [ENTITIES_GLOB],
    // Failed queries reach the exception filter, which logs them without their parameters.
    logging: false,
  };
  if (config.databaseUrl) {
    installTimestampParser();
    const { url, options } = withSessionOptions(config.databaseUrl, process.env.PGOPTIONS);
    return {
      ...common,
      url,
      // The session settings of SESSION_OPTIONS, after the URL's own and PGOPTIONS.
      extra: { max: config.dbPoolSize, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 5_000, application_name: 'h2v-server', options },
    };
  }
  // Made, or closed, private to this user: the migration command and the tests come here without requireWritableDirs.
  const dataDir = embeddedDatabaseDir(config.dataDir);
  // One process per embedded database: PGlite locks nothing itself (see lockDataDir).
  lockDataDir(join(config.dataDir, 'db.lock'));
  return { ...common, driver: pgliteDriver(dataDir) } as DataSourceOptions;
}

/**
 * The server's own session settings. UTC, whatever the server's or database's TimeZone:
 * timestamps come back as `+00:00`, as pg-timestamps reads them (in a zone east of UTC the
 * far-future mute came back in the year 10000). No JIT: every statement here is a few
 * milliseconds of index lookups, and a large group's estimates (many contacts and blocks among
 * its members) passed jit_above_cost, compiling for 110-170 ms each time.
 */
const SESSION_OPTIONS = '-c TimeZone=UTC -c jit=off';

/**
 * The connection's `options`: the URL's own (`?options=…`, e.g. a provider's endpoint or a
 * search_path) and PGOPTIONS, then the server's settings, which win. pg lets a URL's `options`
 * replace the configured ones outright, and configured ones hide PGOPTIONS: so the URL goes without
 * its `options`, and all three travel together.
 */
export function withSessionOptions(databaseUrl: string, pgOptions: string | undefined): { url: string; options: string } {
  let url = databaseUrl;
  let own: string | null = null;
  try {
    const parsed = new URL(databaseUrl);
    own = parsed.searchParams.get('options');
    if (own !== null) {
      parsed.searchParams.delete('options');
      url = parsed.toString();
    }
  } catch {
    // Not a URL pg would take either: it says so itself when it connects.
  }
  return { url, options: [own, pgOptions, SESSION_OPTIONS].filter((part) => part?.trim()).join(' ') };
}

/** Loads migration classes by requiring the compiled (or, under jest, the source) files in order. */
function loadMigrations(): Function[] {
  let files: string[];
  try {
    files = readdirSync(MIGRATIONS_DIR);
  } catch {
    return [];
  }
  return files
    .filter((f) => /\.(js|ts)$/.test(f) && !f.endsWith('.d.ts'))
    .sort()
    .flatMap((f) => Object.values(require(join(MIGRATIONS_DIR, f)) as Record<string, Function>))
    .filter((value) => typeof value === 'function');
}
