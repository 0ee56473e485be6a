/** A bus record's bytes and its recipients (null: a record every instance gets). */
export interface RoutedRecord {
  chunks: Buffer[];
  users: string[] | null;
}

/**
 * The bus messages of one turn: for each target instance, the chunks of the records that have a
 * recipient there, in their order; under the key null, the records for every instance. A record
 * goes once to each instance however many of its recipients are there, and never to `self`
 * (which delivered it already).
 */
export function groupByInstance(records: RoutedRecord[], routesOf: (userId: string) => readonly string[], self: string): Map<string | null, Buffer[]> {
  const messages = new Map<string | null, Buffer[]>();
  const add = (target: string | null, chunks: Buffer[]) => {
    const message = messages.get(target);
    if (message) message.push(...chunks);
    else messages.set(target, [...chunks]);
  };
  for (const record of records) {
    if (record.users === null) {
      add(null, record.chunks);
      continue;
    }
    const targets = new Set<string>();
    for (const userId of record.users) for (const instance of routesOf(userId)) if (instance !== self) targets.add(instance);
    for (const target of targets) add(target, record.chunks);
  }
  return messages;
}
