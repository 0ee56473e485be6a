import { randomBytes } from 'node:crypto';
import { v7 } from 'uuid';

/** Time-ordered UUIDv7, made in the application (PostgreSQL 15 has no uuidv7()); keyset pagination by id is pagination by time. */
export const newId = (): string => v7();

/**
 * The low 64 bits of a UUIDv7 (the variant, then 62 random bits) as 16 hex digits, for an id
 * whose time and counter bits are made in SQL (see the messages insert).
 */
export function uuidV7RandomBits(): string {
  return uuidV7RandomBitsList(1)[0];
}

/** `count` of uuidV7RandomBits from one read of the random source. */
export function uuidV7RandomBitsList(count: number): string[] {
  const bits = randomBytes(8 * count);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    bits[8 * i] = (bits[8 * i] & 0x3f) | 0x80;
    out.push(bits.toString('hex', 8 * i, 8 * i + 8));
  }
  return out;
}

/**
 * Ids as this server writes them: lower case. PostgreSQL reads `uuid` in any case, JavaScript
 * compares strings: an upper-cased copy of a real id would pass every check made in code (a
 * caller's own id not taken for theirs, a rate limit's key, a pair chat's key) and still name
 * the same row in SQL. Clients echo the ids they were given; any other spelling is no id here.
 */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** True for a well-formed id, in lower case (see UUID); malformed ids from the URL answer 404, never a database error. */
export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID.test(value);

/** The greatest uuid: a keyset bound that stands for "no cursor", so first and later pages share one plan. */
export const MAX_UUID = 'ffffffff-ffff-ffff-ffff-ffffffffffff';

/** The least uuid: the lower keyset bound that stands for "no bound". */
export const MIN_UUID = '00000000-0000-0000-0000-000000000000';

/**
 * The least UUIDv7 made at or after `date`: ids carry their creation time in their first 48
 * bits, so "created at or after date" is "id >= idBoundAt(date)" on any index of ids.
 */
export function idBoundAt(date: Date): string {
  const ms = Math.min(Math.max(date.getTime(), 0), 2 ** 48 - 1);
  const hex = ms.toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`;
}
