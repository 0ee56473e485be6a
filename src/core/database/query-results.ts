/** True when a query failed on a unique constraint (Postgres 23505), optionally a named one. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: string; constraint?: string; driverError?: { code?: string; constraint?: string } };
  const code = e?.code ?? e?.driverError?.code;
  const name = e?.constraint ?? e?.driverError?.constraint;
  return code === '23505' && (!constraint || name === constraint);
}

/** True when a query failed on a foreign key (Postgres 23503), optionally a named one: the row it points to is gone. */
export function isForeignKeyViolation(error: unknown, constraint?: string): boolean {
  const e = error as { code?: string; constraint?: string; driverError?: { code?: string; constraint?: string } };
  const name = e?.constraint ?? e?.driverError?.constraint;
  return (e?.code ?? e?.driverError?.code) === '23503' && (!constraint || name === constraint);
}

/**
 * Rows of a `… RETURNING` statement. TypeORM returns `[rows, rowCount]` for UPDATE/DELETE on
 * `pg` but plain rows on PGlite (and for INSERT); this evens them out.
 */
export function returned<T>(result: unknown): T[] {
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0] as T[];
  return result as T[];
}
