/**
 * Who is connected, across every instance. A user is online while at least one of their
 * connections has a live lease; each lease expires by itself after `ttlMs` unless renewed, so
 * a crashed instance cannot leave users online forever.
 */
export abstract class PresenceStore {
  /** Adds or renews a connection's lease. Resolves true when the user had no live connection before. */
  abstract connect(userId: string, connectionId: string, ttlMs: number): Promise<boolean>;
  /** Drops a lease. Resolves true when the user has no live connection left. */
  abstract disconnect(userId: string, connectionId: string): Promise<boolean>;
  /** The subset of these users that is online now. */
  abstract online(userIds: string[]): Promise<Set<string>>;
  /** Whether at least one of these users is online (stops at the first; cheaper than `online` for a big group). */
  abstract anyOnline(userIds: string[]): Promise<boolean>;
}
