/**
 * A bus record and its recipients: `parts` null for a record every instance gets (its `chunks`);
 * otherwise the users of each of its audiences (`parts`), and `encode` gives the record's bytes
 * for some of them (indices into `parts`, in order): an instance gets only the audiences it holds
 * a recipient of (the sender's own copy of a direct message does not travel to the recipient's
 * instance).
 */
export type RoutedRecord =
  | { parts: null; chunks: Buffer[] }
  | { parts: ReadonlyArray<{ userIds: readonly string[] }>; encode: (kept: number[]) => Buffer[] };

/**
 * The bus messages of one turn: for each target instance, the chunks of the records that have a
 * recipient there, in their order, each with the audiences that have one; under the key null,
 * the records for every instance. A record goes once to each instance however many of its
 * recipients are there, and never to `self` (which delivered it already).
 */
export function groupByInstance(records: RoutedRecord[], routesOf: (userId: string) => readonly string[], self: string): Map<string | null, Buffer[]> {
  const messages = new Map<string | null, Buffer[]>();
  const add = (target: string | null, chunks: Buffer[]) => {
    const message = messages.get(target);
    if (message) message.push(...chunks);
    else messages.set(target, [...chunks]);
  };
  for (const record of records) {
    if (record.parts === null) {
      add(null, record.chunks);
      continue;
    }
    // Per target instance, the audiences with a recipient there.
    const kept = new Map<string, number[]>();
    record.parts.forEach(({ userIds }, index) => {
      for (const userId of userIds) {
        for (const instance of routesOf(userId)) {
          if (instance === self) continue;
          const indices = kept.get(instance);
          if (!indices) kept.set(instance, [index]);
          else if (indices[indices.length - 1] !== index) indices.push(index);
        }
      }
    });
    // Targets that keep the same audiences share one encoding (every audience: the common case).
    const encoded = new Map<string, Buffer[]>();
    for (const [target, indices] of kept) {
      const key = indices.join(',');
      let chunks = encoded.get(key);
      if (!chunks) encoded.set(key, (chunks = record.encode(indices)));
      add(target, chunks);
    }
  }
  return messages;
}
