import type { DataSource } from 'typeorm';
import { returned } from './query-results';

/**
 * Runs a delete of at most `batch` rows (its SQL selects them with `LIMIT $1`, ideally
 * `FOR UPDATE SKIP LOCKED`, and ends `RETURNING 1`) until a run deletes fewer: each run is a
 * short transaction of its own, however much has piled up. Resolves how many rows went.
 */
export async function deleteInBatches(dataSource: DataSource, sql: string, params: unknown[], batch: number): Promise<number> {
  let deleted = 0;
  for (;;) {
    const gone = returned<unknown>(await dataSource.query(sql, [batch, ...params])).length;
    deleted += gone;
    if (gone < batch) return deleted;
  }
}
