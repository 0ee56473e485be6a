import calculateSlot from 'cluster-key-slot';

/**
 * The Redis Cluster hash slot of a key (CRC16-XMODEM mod 16384, of the hash tag `{…}` when the
 * key has a non-empty one), computed as ioredis computes it: callers group the keys of a
 * multi-key command by slot.
 */
export function keySlot(key: string): number {
  return calculateSlot(key);
}

/**
 * A stable shard in `[0, shards)` for an id: FNV-1a (32 bits) of its UTF-16 code units, the same
 * on every instance and release. Keys spread over shards by a `{…}` tag per shard (presence, the
 * event log) let one script call take a whole shard's keys and still run on a cluster.
 */
export function hashShard(id: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) hash = Math.imul(hash ^ id.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % shards;
}

/** Items in groups whose keys share a slot (`bySlot` false: one group, as on one Redis server). */
export function groupBySlot<T>(items: T[], keyOf: (item: T) => string, bySlot: boolean): T[][] {
  if (!bySlot) return items.length ? [items] : [];
  const groups = new Map<number, T[]>();
  for (const item of items) {
    const slot = keySlot(keyOf(item));
    const group = groups.get(slot);
    if (group) group.push(item);
    else groups.set(slot, [item]);
  }
  return [...groups.values()];
}
