import { v7 } from 'uuid';

/** Time-ordered UUIDv7, made in the application (PostgreSQL 15 has no uuidv7()); keyset pagination by id is pagination by time. */
export const newId = (): string => v7();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** True for a well-formed UUID; malformed ids from the URL answer 404, never a database error. */
export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID.test(value);

/** The greatest uuid: a keyset bound that stands for "no cursor", so first and later pages share one plan. */
export const MAX_UUID = 'ffffffff-ffff-ffff-ffff-ffffffffffff';
