import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { turnBatch } from '../core/async/turn-batch';
import { preparedQuery } from '../core/database/prepared';
import { returned } from '../core/database/query-results';
import { SessionEntity } from './entities/session.entity';

/** Sessions marked in use per statement (keepInUse). */
const KEEP_IN_USE_BATCH = 500;

const FIND_LIVE_SQL = `SELECT token_hash AS "tokenHash", id, user_id AS "userId", last_active_at AS "lastActiveAt", expires_at AS "expiresAt" FROM sessions WHERE token_hash = ANY($1::text[]) AND expires_at > now()`;

export interface LiveSession {
  id: string;
  userId: string;
  lastActiveAt: Date;
  expiresAt: Date;
}

@Injectable()
export class SessionsRepository {
  /** The lookups of one turn (a burst of connects or requests) go as one statement. */
  private readonly live = turnBatch<string, LiveSession | null>(async (tokenHashes) => {
    // Every authenticated request and socket runs this: prepared once per connection.
    const rows = await preparedQuery<Array<LiveSession & { tokenHash: string }>>(this.dataSource.manager, 'sessions.find-live', FIND_LIVE_SQL, [tokenHashes]);
    const byHash = new Map(rows.map(({ tokenHash, ...session }) => [tokenHash, session]));
    return tokenHashes.map((hash) => byHash.get(hash) ?? null);
  });

  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** A new session: the account is in use (users.last_active_at). */
  async insert(tx: EntityManager, session: SessionEntity): Promise<void> {
    await tx.insert(SessionEntity, session);
    await tx.query(`UPDATE users SET last_active_at = now() WHERE id = $1`, [session.userId]);
  }

  /** The unexpired session of a token hash, or null. */
  findLive(tokenHash: string): Promise<LiveSession | null> {
    return this.live.load(tokenHash);
  }

  /** Which of these session ids are live (present and unexpired). */
  async liveIds(ids: string[]): Promise<string[]> {
    const rows = (await this.dataSource.query(`SELECT id FROM sessions WHERE id = ANY($1::uuid[]) AND expires_at > now()`, [ids])) as Array<{ id: string }>;
    return rows.map((r) => r.id);
  }

  /**
   * Marks the sessions among these whose activity is older than `everySeconds` as used now (their
   * accounts too) and slides their expiry: the sessions of open sockets, a statement for all. Rows
   * are locked in id order and skipped when someone else holds them (a request touching the same
   * session, an account deletion, another instance doing this for a session it shares): two such
   * statements cannot deadlock, and what is skipped is being written anyway or comes next time.
   */
  async keepInUse(ids: string[], lifetimeDays: number, everySeconds: number): Promise<void> {
    // In batches, each session due at its own point of a ten-minute spread past `everySeconds`: the
    // sockets of a deploy, all connected at once, do not stay due together, an instance's whole
    // set in one statement holding its rows every hour.
    for (let i = 0; i < ids.length; i += KEEP_IN_USE_BATCH) {
      const used = returned<{ user_id: string }>(
        await this.dataSource.query(
          `WITH due AS (SELECT id FROM sessions
                         WHERE id = ANY($1::uuid[]) AND expires_at > now() AND last_active_at < now() - make_interval(secs => $3 + abs(hashtext(id::text)) % 600)
                         ORDER BY id FOR UPDATE SKIP LOCKED)
           UPDATE sessions s SET last_active_at = now(), expires_at = now() + make_interval(days => $2) FROM due WHERE s.id = due.id RETURNING s.user_id`,
          [ids.slice(i, i + KEEP_IN_USE_BATCH), lifetimeDays, everySeconds],
        ),
      );
      if (!used.length) continue;
      // A statement of its own, as in touch.
      await this.dataSource.query(
        `UPDATE users SET last_active_at = now() WHERE id IN (SELECT id FROM users WHERE id = ANY($1::uuid[]) ORDER BY id FOR NO KEY UPDATE SKIP LOCKED)`,
        [[...new Set(used.map((r) => r.user_id))]],
      );
    }
  }

  /** Marks activity (the session's and its account's) and slides the expiry; callers throttle this to once a minute per session. */
  async touch(id: string, lifetimeDays: number): Promise<void> {
    const used = returned<{ user_id: string }>(
      await this.dataSource.query(`UPDATE sessions SET last_active_at = now(), expires_at = now() + make_interval(days => $2) WHERE id = $1 RETURNING user_id`, [id, lifetimeDays]),
    );
    // A statement of its own: one holding the session's row while it waits for the user's would
    // deadlock with an account deletion, which holds the user's row and deletes its sessions.
    if (used.length) await this.dataSource.query(`UPDATE users SET last_active_at = now() WHERE id = $1`, [used[0].user_id]);
  }

  listLive(userId: string): Promise<SessionEntity[]> {
    return this.dataSource
      .getRepository(SessionEntity)
      .createQueryBuilder('s')
      .where('s.user_id = :userId AND s.expires_at > now()', { userId })
      .orderBy('s.last_active_at', 'DESC')
      .getMany();
  }

  /** Deletes one of the user's sessions; false when it is not theirs or does not exist. */
  async deleteOwn(userId: string, id: string): Promise<boolean> {
    const rows = returned(await this.dataSource.query(`DELETE FROM sessions WHERE id = $1 AND user_id = $2 RETURNING id`, [id, userId]));
    return rows.length > 0;
  }

  async deleteByTokenHash(tokenHash: string): Promise<string | null> {
    const rows = returned<{ id: string }>(await this.dataSource.query(`DELETE FROM sessions WHERE token_hash = $1 RETURNING id`, [tokenHash]));
    return rows[0]?.id ?? null;
  }

  /** Deletes every session of the user but one; resolves the ids deleted. */
  async deleteOthers(userId: string, keepId: string): Promise<string[]> {
    const rows = returned<{ id: string }>(await this.dataSource.query(`DELETE FROM sessions WHERE user_id = $1 AND id <> $2 RETURNING id`, [userId, keepId]));
    return rows.map((r) => r.id);
  }
}
