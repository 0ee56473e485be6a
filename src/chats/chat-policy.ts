import { ErrorCode } from '../core/errors';
import { ChatRole } from './entities/chat-member.entity';
import { ChatType } from './entities/chat.entity';

/**
 * Who may do what in a chat: the permission matrix of wire-contract-v2.2 §17 as one table.
 * Every group route and socket event asks `decide` (through ChatsService.authorize, which
 * loads the memberships); no handler repeats a role check of its own.
 */
export type ChatAction =
  /** PATCH /chats/:id: name, avatar, description. */
  | 'edit-info'
  | 'add-members'
  /** DELETE /chats/:id/members/:userId; the target is the member removed. */
  | 'remove-member'
  /** PATCH /chats/:id/members/:userId/role; the target is the member whose role changes. */
  | 'change-role'
  /** Create, list and revoke invite links. */
  | 'manage-invites'
  | 'delete-group'
  /** PATCH /chats/:id/pin: the chat's pinned message. */
  | 'pin-message'
  /** DELETE /messages/:id for everyone; the target is the message's sender (`system` for a SYSTEM message). */
  | 'delete-message'
  | 'leave';

/** The member acting. */
export interface Actor {
  userId: string;
  role: ChatRole;
}

/** Whom (or whose message) the action is aimed at; `role` null when they are no longer a member. */
export interface Target {
  userId: string | null;
  role: ChatRole | null;
  /** A SYSTEM message: a record of what happened to the group, which nobody deletes. */
  system?: boolean;
}

/** A refusal: the error code the caller gets, and why. */
export interface Refusal {
  code: Extract<ErrorCode, 'FORBIDDEN' | 'NOT_A_GROUP' | 'CANNOT_CHANGE_OWNER'>;
  message: string;
}

interface Rule {
  /** Only in GROUP chats (NOT_A_GROUP elsewhere). */
  groupOnly: boolean;
  /** In a GROUP, the roles that may do it at all, whoever the target. */
  roles: readonly ChatRole[];
  /** In a GROUP, what the target further rules out (null: allowed). */
  onTarget?(actor: Actor, target: Target): Refusal | null;
  /** In DIRECT, SECRET and SELF chats, which have no roles (actions that are not group-only; null: allowed). */
  other?(actor: Actor, target: Target | null): Refusal | null;
  /** Why a role outside `roles` is refused. */
  refused: string;
}

const ALL: readonly ChatRole[] = ['OWNER', 'ADMIN', 'MEMBER'];
const MANAGERS: readonly ChatRole[] = ['OWNER', 'ADMIN'];
const OWNER: readonly ChatRole[] = ['OWNER'];
const forbidden = (message: string): Refusal => ({ code: 'FORBIDDEN', message });
const ownMessageOnly = (actor: Actor, target: Target | null): Refusal | null =>
  !target?.system && target?.userId === actor.userId ? null : forbidden('You cannot delete this message for everyone');

/** The matrix (§17). An ADMIN never acts on the OWNER, nor on other ADMINs (except their messages). */
export const CHAT_POLICY: Readonly<Record<ChatAction, Rule>> = {
  'edit-info': { groupOnly: true, roles: MANAGERS, refused: "Only the group's owner or an admin can edit the group" },
  'add-members': { groupOnly: true, roles: MANAGERS, refused: "Only the group's owner or an admin can add members" },
  'manage-invites': { groupOnly: true, roles: MANAGERS, refused: "Only the group's owner or an admin can manage invite links" },
  'delete-group': { groupOnly: true, roles: OWNER, refused: "Only the group's owner can delete the group" },
  'remove-member': {
    groupOnly: true,
    roles: MANAGERS,
    refused: "Only the group's owner or an admin can remove members",
    onTarget: (actor, target) => {
      if (target.userId === actor.userId) return forbidden('Leave the group (DELETE /api/chats/:id/leave) instead of removing yourself');
      if (actor.role === 'ADMIN' && target.role !== 'MEMBER') return forbidden('An admin can remove members only, not the owner or other admins');
      return null;
    },
  },
  'change-role': {
    groupOnly: true,
    roles: OWNER,
    refused: "Only the group's owner can change roles",
    onTarget: (actor, target) =>
      target.userId === actor.userId || target.role === 'OWNER' ? { code: 'CANNOT_CHANGE_OWNER', message: "The owner's role cannot be changed" } : null,
  },
  'pin-message': { groupOnly: false, roles: ALL, refused: '', other: () => null },
  'delete-message': {
    groupOnly: false,
    roles: ALL,
    refused: '',
    onTarget: (actor, target) => {
      if (target.system) return forbidden('Group events cannot be deleted');
      if (target.userId === actor.userId || actor.role === 'OWNER') return null;
      if (actor.role === 'ADMIN' && target.role !== 'OWNER') return null;
      return forbidden('You cannot delete this message for everyone');
    },
    other: ownMessageOnly,
  },
  leave: { groupOnly: false, roles: ALL, refused: '', other: () => null },
};

/**
 * Null when `actor` may do `action` in a chat of `chatType`, else the refusal. Without a target
 * only what the actor's role rules out is asked (before the target is looked up); with one, the
 * whole rule.
 */
export function decide(action: ChatAction, chatType: ChatType, actor: Actor, target?: Target): Refusal | null {
  const rule = CHAT_POLICY[action];
  if (chatType !== 'GROUP') {
    if (rule.groupOnly || !rule.other) return { code: 'NOT_A_GROUP', message: 'This works only in group chats' };
    return target === undefined ? null : rule.other(actor, target);
  }
  if (!rule.roles.includes(actor.role)) return forbidden(rule.refused);
  return target === undefined || !rule.onTarget ? null : rule.onTarget(actor, target);
}
