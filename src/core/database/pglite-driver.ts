import type { Extension } from '@electric-sql/pglite';
import { PGliteDriver } from 'typeorm-pglite';
import { PGlitePool } from 'typeorm-pglite/dist/pglite-pool';

type ConnectCallback = (error: unknown, client: PGlitePool | null, done: (error?: unknown) => void) => void;

/**
 * PGlite is one Postgres session. typeorm-pglite hands that session to every caller at once, so
 * a transaction would swallow (and roll back) unrelated concurrent queries. This pool lends the
 * session to one query runner at a time: a pool of size one, with Postgres' usual isolation.
 * Consequence for code: inside a transaction, run every query through its EntityManager.
 */
class ExclusivePGlitePool extends PGlitePool {
  private tail: Promise<void> = Promise.resolve();

  override async connect(callback: ConnectCallback): Promise<void> {
    let release!: () => void;
    const turn = new Promise<void>((resolve) => (release = resolve));
    const previous = this.tail;
    this.tail = previous.then(() => turn);
    await previous;
    let released = false;
    const done = () => {
      if (!released) (released = true), release();
    };
    await super.connect((error, client) => {
      if (error) done();
      callback(error, client, done);
    });
  }
}

/**
 * Extensions the migrations create (`CREATE EXTENSION`): PGlite can only create the ones loaded
 * into the instance. Loaded by `require`, as the subpath export has no node10 type entry.
 */
const EXTENSIONS: Record<string, Extension> = {
  pg_trgm: (require('@electric-sql/pglite/contrib/pg_trgm') as { pg_trgm: Extension }).pg_trgm,
};

/** The TypeORM `driver` option for embedded PGlite persisted in `dataDir`. */
export function pgliteDriver(dataDir: string): unknown {
  new PGliteDriver({ dataDir, extensions: EXTENSIONS }); // registers the instance options (bool serializer, extensions) with typeorm-pglite
  return { Pool: ExclusivePGlitePool };
}
