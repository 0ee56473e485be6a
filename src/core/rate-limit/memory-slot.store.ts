import { SlotLease, SlotStore } from './slot-store';
import { monotonicNow } from './monotonic-clock';

/** Slots of a single instance, in memory. */
export class MemorySlotStore extends SlotStore {
  private readonly slots = new Map<string, Map<string, number>>();

  constructor(private readonly now: () => number = monotonicNow) {
    super();
  }

  async acquire({ key, holder }: SlotLease, limit: number, ttlMs: number): Promise<boolean> {
    const now = this.now();
    const holders = this.slots.get(key) ?? new Map<string, number>();
    for (const [id, expiresAt] of holders) if (expiresAt <= now) holders.delete(id);
    if (!holders.has(holder) && holders.size >= limit) return false;
    holders.set(holder, now + ttlMs);
    this.slots.set(key, holders);
    return true;
  }

  async release({ key, holder }: SlotLease): Promise<void> {
    const holders = this.slots.get(key);
    holders?.delete(holder);
    if (holders?.size === 0) this.slots.delete(key);
  }

  async renew(leases: SlotLease[], ttlMs: number): Promise<void> {
    const expiresAt = this.now() + ttlMs;
    for (const { key, holder } of leases) {
      let holders = this.slots.get(key);
      if (!holders) this.slots.set(key, (holders = new Map()));
      holders.set(holder, expiresAt);
    }
  }
}
