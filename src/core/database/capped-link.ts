import { DataSource } from 'typeorm';

/** A table of one user's links to others (contacts, blocks): its name and its two user columns. */
export interface LinkTable {
  table: string;
  owner: string;
  other: string;
}

/**
 * Stores the link from `ownerId` to `otherId` unless the owner keeps `max` links in the table
 * already. Idempotent: true when the link is stored, now or before; false, storing nothing, at the
 * cap. The owner's users row is locked (FOR NO KEY UPDATE, as the upload quota and pins take it)
 * for the count and the insert, so links added at once are counted one after another.
 */
export function insertLinkWithinCap(dataSource: DataSource, link: LinkTable, ownerId: string, otherId: string, max: number): Promise<boolean> {
  const { table, owner, other } = link;
  return dataSource.transaction(async (tx) => {
    await tx.query(`SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, [ownerId]);
    const [row] = (await tx.query(
      `WITH added AS (
         INSERT INTO ${table} (${owner}, ${other})
         SELECT $1::uuid, $2::uuid WHERE (SELECT count(*) FROM (SELECT 1 FROM ${table} WHERE ${owner} = $1 LIMIT $3::int) AS kept) < $3::int
         ON CONFLICT DO NOTHING RETURNING 1)
       SELECT EXISTS (SELECT 1 FROM added) OR EXISTS (SELECT 1 FROM ${table} WHERE ${owner} = $1 AND ${other} = $2) AS stored`,
      [ownerId, otherId, max],
    )) as Array<{ stored: boolean }>;
    return row.stored;
  });
}
