/** An error's SQLSTATE and constraint, as pg sets them on it or TypeORM on its driverError. */
function pgError(error: unknown): { code: unknown; constraint: unknown } {
  const e = error as { code?: unknown; constraint?: unknown; driverError?: { code?: unknown; constraint?: unknown } } | null | undefined;
  return { code: e?.code ?? e?.driverError?.code, constraint: e?.constraint ?? e?.driverError?.constraint };
}

/** True when a query failed on a unique constraint (Postgres 23505), optionally a named one. */
export function isUniqueViolation(error: unknown, constraint?: string): boolean {
  const e = pgError(error);
  return e.code === '23505' && (!constraint || e.constraint === constraint);
}

/** True when a query failed on a foreign key (Postgres 23503), optionally a named one: the row it points to is gone. */
export function isForeignKeyViolation(error: unknown, constraint?: string): boolean {
  const e = pgError(error);
  return e.code === '23503' && (!constraint || e.constraint === constraint);
}

/**
 * `work`, with a failure on a foreign key (`constraint`, or any) answered as `refusal()` instead:
 * the row it points to went between the check that found it and the write (an account deleted meanwhile).
 */
export async function onForeignKeyGone<T>(work: Promise<T>, refusal: () => Error, constraint?: string): Promise<T> {
  try {
    return await work;
  } catch (error) {
    if (isForeignKeyViolation(error, constraint)) throw refusal();
    throw error;
  }
}

/** True when a `NOWAIT` lock found its row held by another transaction (Postgres 55P03). */
export function isLockNotAvailable(error: unknown): boolean {
  return pgError(error).code === '55P03';
}

const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
// Class 08 (connection exception), shutting down / starting up (57P01-57P03), too many connections (53300).
const UNAVAILABLE_SQLSTATE = /^(08|57P0[123]$|53300$)/;
const UNREACHABLE_MESSAGES = /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection is not established|the database system is (starting up|shutting down)/i;

/**
 * True when a query failed because the database could not be reached (refused, reset, timed out
 * connecting, shutting down): a passing outage worth a 503 and a retry, not a fault of the request.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown; driverError?: { code?: unknown; message?: unknown } };
  if (!e || typeof e !== 'object') return false;
  for (const candidate of [e, e.driverError]) {
    if (!candidate) continue;
    const code = typeof candidate.code === 'string' ? candidate.code : '';
    if (UNREACHABLE_CODES.has(code) || UNAVAILABLE_SQLSTATE.test(code)) return true;
    if (typeof candidate.message === 'string' && UNREACHABLE_MESSAGES.test(candidate.message)) return true;
  }
  return false;
}

/**
 * True when PostgreSQL answered the statement with an error of its own (a SQLSTATE: a constraint,
 * a deadlock, a bad value), so nothing of it was committed. False for a lost connection or a
 * server going away, after which the statement may or may not have committed.
 */
export function isStatementRefused(error: unknown): boolean {
  if (isDatabaseUnavailable(error)) return false;
  const { code } = pgError(error);
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
}

/**
 * Rows of a `… RETURNING` statement. TypeORM returns `[rows, rowCount]` for UPDATE/DELETE on
 * `pg` but plain rows on PGlite (and for INSERT); this evens them out.
 */
export function returned<T>(result: unknown): T[] {
  if (Array.isArray(result) && result.length === 2 && Array.isArray(result[0]) && typeof result[1] === 'number') return result[0] as T[];
  return result as T[];
}
