import { EntryList, LOG_SHARDS, shardCalls, shardOf } from './log-shards';

describe('shardOf', () => {
  it('is stable (it names keys) and spreads ids over every shard', () => {
    // FNV-1a of the id: these values name Redis keys, so they must never change.
    expect(shardOf('')).toBe(0x811c9dc5 % LOG_SHARDS);
    expect(shardOf('a')).toBe(0xe40c292c % LOG_SHARDS);
    const counts = new Array<number>(LOG_SHARDS).fill(0);
    for (let i = 0; i < 64_000; i++) counts[shardOf(`0190a1b2-c3d4-7e5f-8a9b-${i.toString(16).padStart(12, '0')}`)]++;
    expect(Math.min(...counts)).toBeGreaterThan(700);
    expect(Math.max(...counts)).toBeLessThan(1300);
  });
});

describe('shardCalls', () => {
  /** The users' lists as a batch builds them: from one root, entry by entry. */
  const lists = (appends: Map<string, number[]>) => {
    const root = new EntryList();
    return new Map([...appends].map(([userId, entries]) => [userId, { list: entries.reduce((list, entry) => list.then(entry), root) }]));
  };
  const eight = (userId: string) => shardOf(userId, 8);
  const one = () => 0;
  /** Each user's entries as the call gives them (resolving "same as the previous user"). */
  const expand = (calls: ReturnType<typeof shardCalls>) => {
    const out = new Map<string, number[]>();
    for (const call of calls) {
      let last: number[] = [];
      call.userIds.forEach((userId, u) => {
        const list = call.lists[u];
        if (list) last = list.map((i) => call.entries[i]);
        out.set(userId, last);
      });
    }
    return out;
  };

  it('makes one call per shard, every user once, each with exactly their entries in order', () => {
    const appends = new Map<string, number[]>();
    for (let i = 0; i < 200; i++) appends.set(`member-${i}`, [1, 3]);
    appends.set('sender', [0, 1, 2, 3, 4]);
    appends.set('other', [4, 2]);
    const calls = shardCalls(lists(appends), eight);
    expect(calls.map((c) => c.shard).sort((a, b) => a - b)).toEqual([...new Set(calls.map((c) => c.shard))].sort((a, b) => a - b));
    for (const call of calls) for (const userId of call.userIds) expect(shardOf(userId, 8)).toBe(call.shard);
    expect(expand(calls)).toEqual(appends);
    expect(calls.reduce((n, c) => n + c.userIds.length, 0)).toBe(202);
  });

  it('lists an entry once per call and a shared list once per call', () => {
    const appends = new Map<string, number[]>();
    for (let i = 0; i < 50; i++) appends.set(`m${i}`, [7, 9]);
    const [call] = shardCalls(lists(appends), one);
    expect(call.entries).toEqual([7, 9]);
    expect(call.lists.filter((l) => l !== null)).toEqual([[0, 1]]);
    expect(call.lists[0]).toEqual([0, 1]);
  });

  it('keeps users of different entries apart even when they alternate', () => {
    const appends = new Map<string, number[]>([
      ['a', [1]],
      ['b', [2]],
      ['c', [1]],
      ['d', [1, 2]],
    ]);
    const [call] = shardCalls(lists(appends), one);
    expect(expand([call])).toEqual(appends);
    expect(call.lists.filter((l) => l !== null)).toHaveLength(3);
    expect(call.entries).toEqual([1, 2]);
  });
});
