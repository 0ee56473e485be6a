import { privacyAllows } from './user-settings';
import { blockedWithSql } from './users.repository';

/**
 * What decides who sees a reader's read receipts (the `readReceipts` of messages, wherever a
 * message is shown, and the `message:read` event), for the viewers a statement asked about.
 */
export interface ReceiptFacts {
  /** The reader. */
  userId: string;
  /** The reader's stored showReadReceipts; null or absent when never set (on). */
  receiptLevel: unknown;
  /** Of the viewers asked about, those in the reader's contacts. */
  contactOf: string[];
  /** Of the viewers asked about, those with a block between them and the reader, either way. */
  blockedWith: string[];
}

/**
 * The rule: a reader always sees their own receipts. Anyone else sees them as the reader's
 * showReadReceipts allows (`all`/true: everyone; `contacts`: users in the reader's contacts;
 * `nobody`/false: no one), and never across a block, either way (BlockPolicy's `read-receipt`
 * row). The setting governs only what the reader reveals ("Send read checkmarks"): a reader
 * who turned it off still sees other people's receipts as their settings allow.
 */
export function receiptVisible(reader: ReceiptFacts, viewerId: string): boolean {
  if (reader.userId === viewerId) return true;
  if (reader.blockedWith.includes(viewerId)) return false;
  return privacyAllows(reader.receiptLevel, reader.contactOf.includes(viewerId));
}

/**
 * SQL columns "receiptLevel", "contactOf" and "blockedWith" of ReceiptFacts for reader `reader`
 * and viewers `viewers` (SQL expressions: a uuid and a uuid[]), by primary keys and index ranges.
 */
export const receiptFactsSql = (reader: string, viewers: string): string => `
  (SELECT rs.settings -> 'showReadReceipts' FROM user_settings rs WHERE rs.user_id = ${reader}) AS "receiptLevel",
  (SELECT coalesce(json_agg(rc.contact_id), '[]') FROM contacts rc WHERE rc.owner_id = ${reader} AND rc.contact_id = ANY(${viewers})) AS "contactOf",
  (SELECT coalesce(json_agg(rb.id), '[]') FROM (${blockedWithSql(reader, viewers)}) AS rb(id)) AS "blockedWith"`;

/**
 * ReceiptFacts towards one viewer from what a statement read about the reader towards that
 * viewer alone (UserFacts, or a watermark of a history page): whether the viewer is in the
 * reader's contacts, whether a block stands between them.
 */
export function receiptFactsOf(reader: { id: string; receiptLevel: unknown; viewerIsContact: boolean; blocked: boolean }, viewerId: string): ReceiptFacts {
  return {
    userId: reader.id,
    receiptLevel: reader.receiptLevel,
    contactOf: reader.viewerIsContact ? [viewerId] : [],
    blockedWith: reader.blocked ? [viewerId] : [],
  };
}
