import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { returned } from '../core/database/query-results';

export interface PublicPreKey {
  keyId: number;
  publicKey: string;
}

export interface BundleKeys {
  registrationId: number;
  identityKey: string;
  signedPreKeyId: number;
  signedPreKey: string;
  signedPreKeySig: string;
}

export interface HandedOutBundle extends BundleKeys {
  preKey: PublicPreKey | null;
}

interface BundleRow {
  registration_id: number;
  identity_key: string;
  signed_prekey_id: number;
  signed_prekey: string;
  signed_prekey_sig: string;
  key_id: number | null;
  public_key: string | null;
}

@Injectable()
export class KeysRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Creates or replaces the caller's bundle; the row stays locked until `tx` ends. */
  async saveBundle(tx: EntityManager, userId: string, bundle: BundleKeys): Promise<void> {
    await tx.query(
      `INSERT INTO key_bundles (user_id, registration_id, identity_key, signed_prekey_id, signed_prekey, signed_prekey_sig, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, now())
       ON CONFLICT (user_id) DO UPDATE SET
         registration_id = EXCLUDED.registration_id, identity_key = EXCLUDED.identity_key,
         signed_prekey_id = EXCLUDED.signed_prekey_id, signed_prekey = EXCLUDED.signed_prekey,
         signed_prekey_sig = EXCLUDED.signed_prekey_sig, updated_at = now()`,
      [userId, bundle.registrationId, bundle.identityKey, bundle.signedPreKeyId, bundle.signedPreKey, bundle.signedPreKeySig],
    );
  }

  /** The user's identity key, their bundle's row locked for the rest of `tx`; null without a bundle. */
  async lockedIdentityKey(tx: EntityManager, userId: string): Promise<string | null> {
    const rows: Array<{ identity_key: string }> = await tx.query(`SELECT identity_key FROM key_bundles WHERE user_id = $1 FOR UPDATE`, [userId]);
    return rows[0]?.identity_key ?? null;
  }

  /** Deletes the user's one-time prekeys; with `keepHandedOut`, the handed-out ones stay marked. */
  async deleteAllPreKeys(tx: EntityManager, userId: string, options: { keepHandedOut?: boolean } = {}): Promise<void> {
    await tx.query(`DELETE FROM one_time_prekeys WHERE user_id = $1${options.keepHandedOut ? ' AND handed_out_at IS NULL' : ''}`, [userId]);
  }

  /**
   * Locks the bundle row against a concurrent re-upload or replenish for the rest of `tx` (two
   * replenishes at once would each count the keys without the other's and together pass the
   * limit); false when the user has no bundle.
   */
  async lockBundle(tx: EntityManager, userId: string): Promise<boolean> {
    const rows: unknown[] = await tx.query(`SELECT 1 FROM key_bundles WHERE user_id = $1 FOR NO KEY UPDATE`, [userId]);
    return rows.length > 0;
  }

  /** Forgets the keys handed out more than a week ago (their ids may then be stored again). */
  async pruneHandedOut(tx: EntityManager, userId: string): Promise<void> {
    await tx.query(`DELETE FROM one_time_prekeys WHERE user_id = $1 AND handed_out_at < now() - interval '7 days'`, [userId]);
  }

  /** Inserts the keys whose ids are free (neither stored nor handed out within the week); returns the ids actually inserted. */
  async insertPreKeys(tx: EntityManager, userId: string, keys: PublicPreKey[]): Promise<number[]> {
    if (!keys.length) return [];
    const rows = returned<{ key_id: number }>(
      await tx.query(
        `INSERT INTO one_time_prekeys (user_id, key_id, public_key)
         SELECT $1, k.key_id, k.public_key FROM unnest($2::int[], $3::text[]) AS k(key_id, public_key)
         ON CONFLICT (user_id, key_id) DO NOTHING
         RETURNING key_id`,
        [userId, keys.map((k) => k.keyId), keys.map((k) => k.publicKey)],
      ),
    );
    return rows.map((r) => r.key_id);
  }

  /** The stored keys among `keyIds`, handed out or not, to compare with what a client re-sent. */
  async findPreKeys(tx: EntityManager, userId: string, keyIds: number[]): Promise<PublicPreKey[]> {
    const rows: Array<{ key_id: number; public_key: string }> = await tx.query(
      `SELECT key_id, public_key FROM one_time_prekeys WHERE user_id = $1 AND key_id = ANY($2::int[])`,
      [userId, keyIds],
    );
    return rows.map((r) => ({ keyId: r.key_id, publicKey: r.public_key }));
  }

  /**
   * The bundle with one one-time prekey, which the same statement marks handed out: the row is
   * chosen with `FOR UPDATE SKIP LOCKED`, so concurrent callers on any instance each get a
   * different key (or none) and never wait for each other. Bundle and key come from one snapshot,
   * so a key never goes out beside an identity it does not belong to. `preKeysLeft` is how many
   * the user has after this one (as of that snapshot). Null when there is no bundle.
   */
  async takeBundle(userId: string): Promise<{ bundle: HandedOutBundle; preKeysLeft: number } | null> {
    const rows = returned<BundleRow & { stored: number }>(
      await this.dataSource.query(
        `WITH taken AS (
           UPDATE one_time_prekeys SET handed_out_at = now()
           WHERE (user_id, key_id) = (
             SELECT user_id, key_id FROM one_time_prekeys WHERE user_id = $1 AND handed_out_at IS NULL
             ORDER BY key_id LIMIT 1 FOR UPDATE SKIP LOCKED)
           RETURNING key_id, public_key)
         SELECT b.registration_id, b.identity_key, b.signed_prekey_id, b.signed_prekey, b.signed_prekey_sig, t.key_id, t.public_key,
                (SELECT count(*) FROM one_time_prekeys WHERE user_id = $1 AND handed_out_at IS NULL)::int AS stored
         FROM key_bundles b LEFT JOIN taken t ON true
         WHERE b.user_id = $1`,
        [userId],
      ),
    );
    const row = rows[0];
    if (!row) return null;
    const preKey = row.key_id === null ? null : { keyId: row.key_id, publicKey: row.public_key! };
    // The count ran on the snapshot before the mark.
    return { bundle: { ...bundleKeys(row), preKey }, preKeysLeft: Math.max(0, row.stored - (preKey ? 1 : 0)) };
  }

  /** The bundle without consuming a one-time prekey; null when there is none. */
  async findBundle(userId: string): Promise<BundleKeys | null> {
    const rows: Array<Omit<BundleRow, 'key_id' | 'public_key'>> = await this.dataSource.query(
      `SELECT registration_id, identity_key, signed_prekey_id, signed_prekey, signed_prekey_sig FROM key_bundles WHERE user_id = $1`,
      [userId],
    );
    return rows[0] ? bundleKeys(rows[0]) : null;
  }

  async hasBundle(userId: string, tx: EntityManager = this.dataSource.manager): Promise<boolean> {
    const rows: unknown[] = await tx.query(`SELECT 1 FROM key_bundles WHERE user_id = $1`, [userId]);
    return rows.length > 0;
  }

  /** Whether the user exists and whether they have a bundle, in one query. */
  async bundleStatus(userId: string): Promise<{ userExists: boolean; hasBundle: boolean }> {
    const rows: Array<{ has_bundle: boolean }> = await this.dataSource.query(
      `SELECT (b.user_id IS NOT NULL) AS has_bundle FROM users u LEFT JOIN key_bundles b ON b.user_id = u.id WHERE u.id = $1`,
      [userId],
    );
    return { userExists: rows.length > 0, hasBundle: rows[0]?.has_bundle === true };
  }

  async countPreKeys(userId: string, tx: EntityManager = this.dataSource.manager): Promise<number> {
    const [row]: Array<{ count: number }> = await tx.query(`SELECT count(*)::int AS count FROM one_time_prekeys WHERE user_id = $1 AND handed_out_at IS NULL`, [userId]);
    return row.count;
  }
}

function bundleKeys(row: Omit<BundleRow, 'key_id' | 'public_key'>): BundleKeys {
  return {
    registrationId: row.registration_id,
    identityKey: row.identity_key,
    signedPreKeyId: row.signed_prekey_id,
    signedPreKey: row.signed_prekey,
    signedPreKeySig: row.signed_prekey_sig,
  };
}
