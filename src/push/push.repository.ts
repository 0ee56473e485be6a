import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { preparedQuery } from '../core/database/prepared';
import { returned } from '../core/database/query-results';
import { PushableMessage } from './push-payload';

export type DevicePlatform = 'IOS' | 'ANDROID' | 'WEB';
export const DEVICE_PLATFORMS: readonly DevicePlatform[] = ['IOS', 'ANDROID', 'WEB'];

export interface NewDeviceToken {
  id: string;
  userId: string;
  sessionId: string;
  platform: DevicePlatform;
  token: string;
  tokenHash: Buffer;
  /** WEB only: the parsed subscription and the origin the browser reached the API at. */
  endpoint: string | null;
  p256dh: string | null;
  auth: string | null;
  origin: string | null;
}

/** A WEB subscription a message may be pushed to, and whose it is. */
export interface PushRecipient {
  subscriptionId: string;
  userId: string;
  chatId: string;
}

/** Everything one delivery needs: the subscription, and the newest message its owner should hear of. */
export interface Delivery {
  userId: string;
  endpoint: string;
  p256dh: string;
  auth: string;
  origin: string | null;
  seq: string;
  message: PushableMessage;
}

/** A member hears of a chat by push when the chat is on their list, not muted, and notifDesktop is on (the default). */
const MEMBER_LISTENS = `m.visible AND (m.muted_until IS NULL OR m.muted_until <= now())`;
const NOTIF_DESKTOP_ON = (alias: string) => `(${alias}.settings -> 'notifDesktop') IS DISTINCT FROM 'false'::jsonb`;

/**
 * RECIPIENTS: the live WEB subscriptions of the members new messages may notify ($1: the
 * messages), each (subscription, chat) once: not the message's sender, members who see the chat,
 * have not muted it, have notifDesktop on and have not read that far. SYSTEM messages notify nobody.
 */
const RECIPIENTS_SQL = `
  SELECT DISTINCT d.id AS "subscriptionId", d.user_id AS "userId", msg.chat_id AS "chatId"
    FROM messages msg
    JOIN chat_members m ON m.chat_id = msg.chat_id AND m.user_id <> msg.sender_id AND ${MEMBER_LISTENS} AND m.last_read_seq < msg.seq
    JOIN device_tokens d ON d.user_id = m.user_id AND d.platform = 'WEB'
    JOIN sessions s ON s.id = d.session_id AND s.expires_at > now()
    LEFT JOIN user_settings st ON st.user_id = m.user_id
   WHERE msg.id = ANY($1::uuid[]) AND msg.type <> 'SYSTEM' AND msg.sender_id IS NOT NULL AND ${NOTIF_DESKTOP_ON('st')}`;

/**
 * DELIVERY: subscription $1 and chat $2, if its owner should still hear of the chat: the live
 * subscription, the membership rules above, and the newest message past the owner's read mark
 * that is not theirs, not SYSTEM, not hidden by them and not from someone they blocked; with the
 * sender's names and avatar, the avatar only where the sender's showAvatar lets the owner see it.
 */
const DELIVERY_SQL = `
  SELECT d.user_id AS "userId", d.endpoint, d.p256dh, d.auth, d.origin,
         c.id AS "chatId", c.type AS "chatType", x.seq::text AS seq, x.type, x.text,
         u.nickname AS "senderNickname", u.first_name AS "senderFirstName", u.last_name AS "senderLastName",
         CASE ss.settings ->> 'showAvatar'
           WHEN 'nobody' THEN NULL
           WHEN 'false' THEN NULL
           WHEN 'contacts' THEN (CASE WHEN EXISTS (SELECT 1 FROM contacts k WHERE k.owner_id = u.id AND k.contact_id = d.user_id) THEN u.avatar END)
           ELSE u.avatar
         END AS "senderAvatar"
    FROM device_tokens d
    JOIN sessions s ON s.id = d.session_id AND s.expires_at > now()
    JOIN chat_members m ON m.chat_id = $2 AND m.user_id = d.user_id AND ${MEMBER_LISTENS}
    JOIN chats c ON c.id = m.chat_id
    LEFT JOIN user_settings st ON st.user_id = d.user_id
    CROSS JOIN LATERAL (
      SELECT msg.seq, msg.type, msg.text, msg.sender_id
        FROM messages msg
       WHERE msg.chat_id = $2 AND msg.seq > m.last_read_seq AND msg.sender_id <> d.user_id AND msg.type <> 'SYSTEM'
         AND NOT EXISTS (SELECT 1 FROM message_hides h WHERE h.message_id = msg.id AND h.user_id = d.user_id)
         AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.blocker_id = d.user_id AND b.blocked_id = msg.sender_id)
       ORDER BY msg.seq DESC
       LIMIT 1
    ) x
    JOIN users u ON u.id = x.sender_id
    LEFT JOIN user_settings ss ON ss.user_id = u.id
   WHERE d.id = $1 AND d.platform = 'WEB' AND ${NOTIF_DESKTOP_ON('st')}`;

@Injectable()
export class PushRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  transaction<T>(work: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.dataSource.transaction(work);
  }

  /**
   * Locks the user's row until the transaction ends (FOR NO KEY UPDATE: inserts referencing the
   * user still proceed), so two registrations of one user at once take turns: each counts, and
   * evicts from, what the other committed.
   */
  async lockOwner(tx: EntityManager, userId: string): Promise<void> {
    await tx.query(`SELECT 1 FROM users WHERE id = $1 FOR NO KEY UPDATE`, [userId]);
  }

  /** Stores a token, or moves an existing one (same token) to this user and session; resolves its id. */
  async upsert(tx: EntityManager, token: NewDeviceToken): Promise<string> {
    const rows = (await tx.query(
      `INSERT INTO device_tokens (id, user_id, session_id, platform, token, token_hash, endpoint, p256dh, auth, origin)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (token_hash) DO UPDATE
         SET user_id = EXCLUDED.user_id, session_id = EXCLUDED.session_id, platform = EXCLUDED.platform, token = EXCLUDED.token,
             endpoint = EXCLUDED.endpoint, p256dh = EXCLUDED.p256dh, auth = EXCLUDED.auth, origin = EXCLUDED.origin, updated_at = now()
       RETURNING id`,
      [token.id, token.userId, token.sessionId, token.platform, token.token, token.tokenHash, token.endpoint, token.p256dh, token.auth, token.origin],
    )) as Array<{ id: string }>;
    return rows[0].id;
  }

  /**
   * Deletes the tokens of the session, then of the user, past the first `keep` of each, the
   * token `kept` counting first and the others from the most recently registered (`updated_at`,
   * which every registration of a token refreshes).
   */
  async evictBeyond(tx: EntityManager, kept: string, owner: { sessionId: string; userId: string }, keep: { perSession: number; perUser: number }): Promise<void> {
    const evict = (column: 'session_id' | 'user_id') =>
      `DELETE FROM device_tokens WHERE id IN (
         SELECT id FROM device_tokens WHERE ${column} = $1 AND id <> $2 ORDER BY updated_at DESC, id DESC OFFSET $3)`;
    await tx.query(evict('session_id'), [owner.sessionId, kept, keep.perSession - 1]);
    await tx.query(evict('user_id'), [owner.userId, kept, keep.perUser - 1]);
  }

  /** Deletes the token with this hash; resolves whether there was one. */
  /**
   * Deletes the rows of a browser subscription, however they were keyed (an instance of a release
   * before 1764000009910 keyed them by the JSON as sent, and a rolling deploy overlaps it), but
   * `keptId`: a row of that kind would keep pushing its account's messages to a browser someone
   * else now uses.
   */
  async removeByEndpoint(endpoint: string, { keptId = null, tx = this.dataSource.manager }: { keptId?: string | null; tx?: EntityManager } = {}): Promise<void> {
    await tx.query(`DELETE FROM device_tokens WHERE platform = 'WEB' AND endpoint = $1 AND id IS DISTINCT FROM $2`, [endpoint, keptId]);
  }

  async removeByHash(tokenHash: Buffer): Promise<boolean> {
    return returned(await this.dataSource.query(`DELETE FROM device_tokens WHERE token_hash = $1 RETURNING id`, [tokenHash])).length > 0;
  }

  /** A subscription the push service disowned (404/410) or that may not be contacted. */
  async removeSubscription(id: string): Promise<void> {
    await this.dataSource.query(`DELETE FROM device_tokens WHERE id = $1`, [id]);
  }

  /** Prepared: planning this join costs ~2.5 ms, several times running it for a batch. */
  recipients(messageIds: string[]): Promise<PushRecipient[]> {
    return preparedQuery(this.dataSource.manager, 'push.recipients', RECIPIENTS_SQL, [messageIds]);
  }

  async delivery(subscriptionId: string, chatId: string): Promise<Delivery | null> {
    const [row] = (await this.dataSource.query(DELIVERY_SQL, [subscriptionId, chatId])) as Array<Omit<Delivery, 'message'> & PushableMessage>;
    if (!row) return null;
    const { userId, endpoint, p256dh, auth, origin, seq, ...message } = row;
    return { userId, endpoint, p256dh, auth, origin, seq, message };
  }
}
