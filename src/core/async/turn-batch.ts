import DataLoader from 'dataloader';

/** Keys one batch reads at most, unless the caller says less: a statement with a bounded array parameter. */
const MAX_BATCH = 500;
/** Batches of one loader being read at once; a batch due meanwhile waits, and gathers the keys asked for while it waits. */
const MAX_IN_FLIGHT = 2;

/**
 * Loads by key, many keys per read: `load(keys)` answers them all at once, in their order. A key
 * is read at the end of the turn of the event loop it was asked in, together with the others of
 * that turn; while MAX_IN_FLIGHT reads are out, the keys asked for meanwhile wait for one to come
 * back and then go together. So a lone key costs no wait, and a burst of socket connects or
 * requests (each asking one key as its I/O arrives, one per turn) costs a few statements instead
 * of one each. Nothing is cached: every answer is read after it was asked for. A failed load
 * rejects every key of its batch with its error. (DataLoader with its schedule replaced.)
 * `maxBatch` bounds a read whose answer per key can be large (its rows are held in memory at once).
 */
export function turnBatch<K, V>(load: (keys: readonly K[]) => Promise<V[]>, maxBatch = MAX_BATCH): DataLoader<K, V> {
  let inFlight = 0;
  const due: Array<() => void> = [];
  const read = async (keys: readonly K[]): Promise<V[]> => {
    inFlight++;
    try {
      return await load(keys);
    } finally {
      inFlight--;
      due.shift()?.();
    }
  };
  const schedule = (dispatch: () => void): void => {
    setImmediate(() => (inFlight < MAX_IN_FLIGHT ? dispatch() : due.push(dispatch)));
  };
  return new DataLoader<K, V>(read, { cache: false, maxBatchSize: Math.min(maxBatch, MAX_BATCH), batchScheduleFn: schedule });
}
