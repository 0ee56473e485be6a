import { Injectable } from '@nestjs/common';
import { PresenceStore } from './presence-store';

/** Presence for a single instance. */
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
    this.leases.get(userId)?.delete(connectionId);
    return this.live(userId) === 0;
  }

  async online(userIds: string[]): Promise<Set<string>> {
    return new Set(userIds.filter((id) => this.live(id) > 0));
  }

  async anyOnline(userIds: string[]): Promise<boolean> {
    return userIds.some((id) => this.live(id) > 0);
  }

  private live(userId: string): number {
    const leases = this.leases.get(userId);
    if (!leases) return 0;
    const now = Date.now();
    for (const [id, expiresAt] of leases) if (expiresAt <= now) leases.delete(id);
    if (leases.size === 0) this.leases.delete(userId);
    return leases.size;
  }
}
