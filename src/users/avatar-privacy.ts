import { privacyAllows, privacyLevel } from './user-settings';

/**
 * showAvatar (contract v2.2 §15): who besides its owner sees a user's avatar. Every User object
 * and message sender a viewer gets carries `avatar: null` when the owner's level does not let
 * that viewer see it: `all` (the default) everyone, `contacts` the users in the owner's own
 * contacts, `nobody` no one. The owner always sees their own. Blocks do not enter into it
 * (BlockPolicy hides what a block hides). The same rule user:updated and presence follow
 * (privacyAllows).
 */
export function avatarAllowed(ownerId: string, viewerId: string, level: unknown, viewerIsContact: boolean): boolean {
  return ownerId === viewerId || privacyAllows(level, viewerIsContact);
}

/** What decides who sees a message sender's avatar, as a statement read it for the viewers it was asked about. */
export interface AvatarRule {
  /** The stored showAvatar; null when never set (everyone). */
  level: unknown;
  /**
   * Of the viewers asked about, those in the owner's contacts: read only when the level is
   * `contacts`; null otherwise, or when nobody was asked yet (the send path's insert).
   */
  contactOf: string[] | null;
}

/** A user row as message senders carry it: `avatarRule` null when nothing restricts the avatar (there is none, or the only viewer is its owner). */
export interface AvatarOwner {
  id: string;
  avatar: string | null;
  avatarRule: AvatarRule | null;
}

/** The avatar `viewerId` may see of `owner`: the avatar, or null. A `contacts` rule whose contacts were not read hides it. */
export function avatarSeenBy(owner: AvatarOwner, viewerId: string): string | null {
  if (!owner.avatar || !owner.avatarRule) return owner.avatar;
  const { level, contactOf } = owner.avatarRule;
  return avatarAllowed(owner.id, viewerId, level, !!contactOf?.includes(viewerId)) ? owner.avatar : null;
}

/** Whether some viewer other than the owner may be refused the avatar (its level is not `all`). */
export function avatarRestricted(owner: AvatarOwner | null | undefined): boolean {
  return !!owner?.avatar && !!owner.avatarRule && privacyLevel(owner.avatarRule.level) !== 'all';
}

/** Whether the rule is `contacts` but the statement that read it did not know the viewers (a second read names them). */
export function avatarRuleLacksContacts(owner: AvatarOwner | null | undefined): boolean {
  return !!owner?.avatar && !!owner.avatarRule && owner.avatarRule.contactOf === null && privacyLevel(owner.avatarRule.level) === 'contacts';
}

/**
 * SQL: the AvatarRule (a JSON value, or null) of the user row `user` (a table alias with `id` and
 * `avatar`) towards `viewers` (an SQL uuid[]). Nothing is read for a user without an avatar, nor,
 * with `viewer` (an SQL uuid: the one viewer), for the viewer's own row; otherwise one probe of
 * user_settings' primary key, and a range of contacts' primary key only under `contacts`.
 */
export const avatarRuleSql = (user: string, viewers: string, viewer?: string): string => `(
  SELECT json_build_object('level', avs.settings -> 'showAvatar', 'contactOf', CASE WHEN avs.settings -> 'showAvatar' = '"contacts"'::jsonb THEN
           (SELECT coalesce(json_agg(avc.contact_id), '[]') FROM contacts avc WHERE avc.owner_id = avs.user_id AND avc.contact_id = ANY(${viewers})) END)
    FROM user_settings avs WHERE avs.user_id = ${user}.id AND ${user}.avatar IS NOT NULL${viewer ? ` AND ${user}.id <> ${viewer}` : ''})`;
