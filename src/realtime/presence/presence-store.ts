/**
 * Who is connected, across every instance. A user is online while at least one of their
 * connections has a live lease; each lease expires by itself after `ttlMs` unless renewed, so
 * a crashed instance cannot leave users online forever. Every going-offline is observed exactly
 * once: by `disconnect` when the last live lease is dropped, or by `claimLapsed` when the last
 * ones expired without a disconnect (their instance died).
 */
export abstract class PresenceStore {
  /** Adds or renews a connection's lease. Resolves true when the user had no live connection before. */
  abstract connect(userId: string, connectionId: string, ttlMs: number): Promise<boolean>;
  /**
   * Drops a lease. Resolves true when the user has no live lease left and had not been reported
   * offline yet (by claimLapsed); false otherwise.
   */
  abstract disconnect(userId: string, connectionId: string): Promise<boolean>;
  /**
   * Users whose leases all lapsed without a disconnect, at most `limit`: each is handed to one
   * caller, on one instance, once.
   */
  abstract claimLapsed(limit: number): Promise<string[]>;
  /** The subset of these users that is online now. */
  abstract online(userIds: string[]): Promise<Set<string>>;
  /** Whether at least one of these users is online (stops at the first; cheaper than `online` for a big group). */
  abstract anyOnline(userIds: string[]): Promise<boolean>;
}
