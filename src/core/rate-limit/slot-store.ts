/** One holder's place under one key. */
export interface SlotLease {
  key: string;
  holder: string;
}

/**
 * Bounded sets of leases: at most `limit` holders per key, counted across every instance when
 * Redis is configured. A lease lapses by itself `ttlMs` after it was taken or last renewed, so
 * the places held on an instance that died free up without anyone releasing them.
 */
export abstract class SlotStore {
  /** Takes (or renews) `holder`'s place under `key`; false when `limit` others hold one already. */
  abstract acquire(lease: SlotLease, limit: number, ttlMs: number): Promise<boolean>;
  abstract release(lease: SlotLease): Promise<void>;
  /** Extends these leases (retaking any that lapsed, e.g. while Redis was away). */
  abstract renew(leases: SlotLease[], ttlMs: number): Promise<void>;
}
