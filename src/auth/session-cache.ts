import { DisconnectTarget } from '../realtime/connection-registry';

/** What a token resolved to. Times in epoch ms. */
export interface CachedSession {
  id: string;
  userId: string;
  lastActiveAt: number;
  expiresAt: number;
}

/**
 * Resolved sessions by token hash, each kept for a few seconds: the session lookup is the one
 * query every authenticated request and socket makes, and a client sends its requests in bursts.
 * Only live sessions are kept (an unknown token always asks the database). A session that ends
 * is forgotten at once on the instance that ended it and, through the realtime bus, on the
 * others (see SessionsService); an instance the bus cannot reach forgets it within `ttlMs`.
 * Bounded: past `maxEntries` the oldest entry goes.
 */
export class SessionCache {
  private readonly entries = new Map<string, { session: CachedSession; until: number }>();
  /**
   * Moves on with every forget. A lookup started before a forget may have read a session that
   * ended meanwhile: `set` with the generation read before the lookup keeps nothing then, so an
   * ended session is never remembered past its end (forgets are rare: sign-outs, terminations).
   */
  private forgets = 0;

  /** The generation to pass to `set` for a lookup about to start. */
  get generation(): number {
    return this.forgets;
  }

  constructor(
    private readonly ttlMs = 5_000,
    private readonly maxEntries = 50_000,
  ) {}

  get(tokenHash: string, now = Date.now()): CachedSession | null {
    const entry = this.entries.get(tokenHash);
    if (!entry) return null;
    if (entry.until > now && entry.session.expiresAt > now) return entry.session;
    this.entries.delete(tokenHash);
    return null;
  }

  /** Remembers a session looked up at `generation`, unless something was forgotten since. */
  set(tokenHash: string, session: CachedSession, generation: number, now = Date.now()): void {
    if (generation !== this.forgets) return;
    this.entries.delete(tokenHash);
    if (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(tokenHash, { session, until: now + this.ttlMs });
  }

  /** Forgets the sessions named and every session of the users named. */
  forget(target: DisconnectTarget): void {
    const sessions = new Set(target.sessionIds ?? []);
    const users = new Set(target.userIds ?? []);
    if (!sessions.size && !users.size) return;
    this.forgets++;
    for (const [hash, { session }] of this.entries) {
      if (sessions.has(session.id) || users.has(session.userId)) this.entries.delete(hash);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
