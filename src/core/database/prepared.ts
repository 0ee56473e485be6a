import { EntityManager } from 'typeorm';

const texts = new Map<string, string>();

/**
 * Runs a hot statement as a named prepared statement on `pg`: each pooled connection parses
 * and plans it once instead of on every call (for a CTE the planning costs more than running
 * it). Only for statements whose parameters are all matched by equality on keys, so a generic
 * plan is as good as a custom one. Embedded PGlite runs the text as it is.
 * Works through `manager` (and so through a transaction's `tx`): `pg` accepts a query config
 * `{ name, text }` wherever it accepts a text, and TypeORM passes the query on untouched.
 */
export function preparedQuery<T>(manager: EntityManager, name: string, text: string, params: unknown[]): Promise<T> {
  const known = texts.get(name);
  if (known === undefined) texts.set(name, text);
  else if (known !== text) throw new Error(`Prepared statement '${name}' is used with two texts`);
  if ((manager.connection.options as { driver?: unknown }).driver) return manager.query(text, params) as Promise<T>;
  return manager.query({ name, text } as unknown as string, params) as Promise<T>;
}
