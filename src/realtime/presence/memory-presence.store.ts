import { Injectable } from '@nestjs/common';
import { PresenceStore } from './presence-store';

/**
 * Presence for a single instance. A user stays in the map, lapsed leases and all, until their
 * going-offline is reported by disconnect or claimLapsed.
 */
@Injectable()
export class MemoryPresenceStore extends PresenceStore {
  private readonly leases = new Map<string, Map<string, number>>();

  async connect(userId: string, connectionId: string, ttlMs: number): Promise<boolean> {
    const wasOnline = this.live(userId) > 0;
    let leases = this.leases.get(userId);
    if (!leases) this.leases.set(userId, (leases = new Map()));
    leases.set(connectionId, Date.now() + ttlMs);
    return !wasOnline;
  }

  async disconnect(userId: string, connectionId: string): Promise<boolean> {
    const leases = this.leases.get(userId);
    if (!leases) return false;
    leases.delete(connectionId);
    if (this.live(userId) > 0) return false;
    this.leases.delete(userId);
    return true;
  }

  async claimLapsed(limit: number): Promise<string[]> {
    const claimed: string[] = [];
    for (const userId of this.leases.keys()) {
      if (claimed.length >= limit) break;
      if (this.live(userId) === 0) claimed.push(userId);
    }
    for (const userId of claimed) this.leases.delete(userId);
    return claimed;
  }

  async online(userIds: string[]): Promise<Set<string>> {
    return new Set(userIds.filter((id) => this.live(id) > 0));
  }

  async anyOnline(userIds: string[]): Promise<boolean> {
    return userIds.some((id) => this.live(id) > 0);
  }

  /** The user's live leases; lapsed ones are pruned (the user's entry stays until reported). */
  private live(userId: string): number {
    const leases = this.leases.get(userId);
    if (!leases) return 0;
    const now = Date.now();
    for (const [id, expiresAt] of leases) if (expiresAt <= now) leases.delete(id);
    return leases.size;
  }
}
