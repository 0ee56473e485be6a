import { hashShard } from '../../core/redis/key-slot';

/**
 * The event log's users are spread over LOG_SHARDS shards by a hash of their id; a shard's keys
 * share the hash tag `{s:<n>}` (one slot on a Redis Cluster), so one script call appends for every
 * recipient of a batch in that shard, where one call per user cost Redis about twice the CPU for
 * a group message (measured: 200 members, 1 message per batch: 1,484 µs against 600-750 µs).
 * More shards spread the log over more cluster nodes but split a group's members over more calls
 * (a group of 200 meets about 61 of 64). The count names keys: changing it starts every user's
 * log afresh (their old positions resync), as a counter that expired would.
 */
export const LOG_SHARDS = 64;

/** The user's shard of the log (hashShard: the same on every instance and release). */
export function shardOf(userId: string, shards = LOG_SHARDS): number {
  return hashShard(userId, shards);
}

/** One script call's share of an append batch: the users of one shard and the entries they get. */
export interface ShardCall {
  shard: number;
  userIds: string[];
  /** The batch's entries this call uses (indices into the batch's entry table), each listed once. */
  entries: number[];
  /**
   * Per user, in order: the indices into `entries` of the user's new entries in append order, or
   * null when they are the same as the previous user's (a group's members get the same entries:
   * listed once per call).
   */
  lists: Array<number[] | null>;
}

/**
 * A user's new entries in a batch (indices into its entry table), one object for every user who
 * got the same ones: lists grow from one root by `then`, a tree of the batch's distinct lists, so
 * grouping users by list is by identity, without comparing or hashing lists.
 */
export class EntryList {
  /** The lists one entry longer: the first one held directly (most lists have one: a direct message's), further ones in a map. */
  private firstEntry = -1;
  private first: EntryList | null = null;
  private more: Map<number, EntryList> | null = null;

  constructor(readonly entries: number[] = []) {}

  /** The list of these entries and then `entry` (one object for every distinct list in the batch). */
  then(entry: number): EntryList {
    if (this.firstEntry === entry) return this.first!;
    if (!this.first) {
      this.firstEntry = entry;
      return (this.first = new EntryList([...this.entries, entry]));
    }
    this.more ??= new Map();
    let list = this.more.get(entry);
    if (!list) this.more.set(entry, (list = new EntryList([...this.entries, entry])));
    return list;
  }
}

/**
 * Groups a batch's appends (each user with the entries they get, oldest first: an EntryList
 * reached from one root by `then`) into one call per shard, users of the same list next to each
 * other so the list is sent once per call. `shardOfUser` may answer from a cache of shardOf.
 */
export function shardCalls(appends: Map<string, { list: EntryList }>, shardOfUser: (userId: string) => number = shardOf): ShardCall[] {
  const byShard = new Map<number, Map<EntryList, string[]>>();
  for (const [userId, { list }] of appends) {
    const shard = shardOfUser(userId);
    let byList = byShard.get(shard);
    if (!byList) byShard.set(shard, (byList = new Map()));
    const users = byList.get(list);
    if (users) users.push(userId);
    else byList.set(list, [userId]);
  }
  const calls: ShardCall[] = [];
  for (const [shard, byList] of byShard) {
    const call: ShardCall = { shard, userIds: [], entries: [], lists: [] };
    const local = new Map<number, number>();
    for (const [{ entries }, users] of byList) {
      const list = entries.map((entry) => {
        let index = local.get(entry);
        if (index === undefined) {
          local.set(entry, (index = call.entries.length));
          call.entries.push(entry);
        }
        return index;
      });
      for (let i = 0; i < users.length; i++) {
        call.userIds.push(users[i]);
        call.lists.push(i === 0 ? list : null);
      }
    }
    calls.push(call);
  }
  return calls;
}
