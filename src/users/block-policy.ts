import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { AppError } from '../core/errors';
import { UsersRepository } from './users.repository';

/**
 * Where a block between two users (either of them blocking the other) applies to an action:
 * `pair-chat`, inside their DIRECT or SECRET chat (a group carries on as its members see it);
 * `everywhere`, wherever the two meet, groups and contacts included.
 */
type BlockScope = 'pair-chat' | 'everywhere';
/** `refuse`: the write is refused with BLOCKED (403). `drop`: nothing crosses the block and the actor is not told. */
type BlockOutcome = 'refuse' | 'drop';

/**
 * What a block does to each kind of action one user takes towards the other, in both
 * directions: the blocked user cannot reach the blocker, and the blocker does not reach the
 * blocked user either. Leaving (deleting) the pair chat is not in the table: it stays open to
 * both, so either side can get rid of the conversation; nor is reading it (`message:read`): a
 * read moves the reader's own watermark, and its receipt is what crosses, which 'read-receipt'
 * drops (refusing the read would only leave the reader's unread count stuck).
 */
export const BLOCK_RULES = {
  'message:send': { scope: 'pair-chat', outcome: 'refuse' },
  'message:edit': { scope: 'pair-chat', outcome: 'refuse' },
  'message:delete': { scope: 'pair-chat', outcome: 'refuse' },
  'message:listened': { scope: 'pair-chat', outcome: 'refuse' },
  reaction: { scope: 'pair-chat', outcome: 'refuse' },
  /** Pinning a message for both (the banner is shared); unpinning stays open, so either side can take down a banner pinned before the block. */
  'pin-message': { scope: 'pair-chat', outcome: 'refuse' },
  typing: { scope: 'pair-chat', outcome: 'drop' },
  'user:updated': { scope: 'everywhere', outcome: 'drop' },
  /** Applied inside the statements that read presence audiences and rules, with blockedWithSql. */
  presence: { scope: 'everywhere', outcome: 'drop' },
  /** Applied where read watermarks are read (see read-receipts.ts), with blockedWithSql. */
  'read-receipt': { scope: 'everywhere', outcome: 'drop' },
} as const satisfies Record<string, { scope: BlockScope; outcome: BlockOutcome }>;

type Rules = typeof BLOCK_RULES;
type Action = keyof Rules;
type ActionsWhere<Scope extends BlockScope, Outcome extends BlockOutcome> = {
  [A in Action]: Rules[A] extends { scope: Scope; outcome: Outcome } ? A : never;
}[Action];
/** Writes into a pair chat that a block refuses. */
export type RefusedInChat = ActionsWhere<'pair-chat', 'refuse'>;
/** Signals in a pair chat that a block drops. */
export type DroppedInChat = ActionsWhere<'pair-chat', 'drop'>;
/** Events about a user that a block keeps from the other side, wherever the two meet. */
export type DroppedAnywhere = ActionsWhere<'everywhere', 'drop'>;

/**
 * The one place that decides what blocks stop. Every route and socket handler that writes into a
 * chat or publishes something about a user asks it; statements that apply a rule themselves
 * (presence, read receipts, the send statement) build it from blockedWithSql (users.repository.ts).
 * Each method takes the action it applies, typed by the table: a row whose outcome changes no
 * longer compiles where the old outcome was applied.
 */
@Injectable()
export class BlockPolicy {
  constructor(private readonly users: UsersRepository) {}

  /**
   * Throws BLOCKED when `action` is a write into a pair chat with a block between its two members;
   * a group lets it through. `tx`: read in the caller's transaction (after its write, so that a
   * block committed before it is seen: a block takes no chat lock).
   */
  async requireInChat(action: RefusedInChat, actorId: string, chat: { id: string; type: string }, tx?: EntityManager): Promise<void> {
    if (chat.type !== 'GROUP') this.refuseIf(action, await this.users.blockedInChat(chat.id, actorId, tx));
  }

  /** The same refusal for a block a caller's own statement already read (sending reads it inside the insert). */
  refuseIf(_action: RefusedInChat, blocked: boolean): void {
    if (blocked) throw new AppError('BLOCKED');
  }

  /** Whether `action` by `actorId` may reach the other members: not in a pair chat with a block between its two members. */
  async deliversInChat(_action: DroppedInChat, actorId: string, chat: { id: string; type: string }): Promise<boolean> {
    return chat.type === 'GROUP' || !(await this.users.blockedInChat(chat.id, actorId));
  }

  /** The recipients of an event about `userId` (`action`) that no block separates from them. */
  async audience(_action: DroppedAnywhere, userId: string, recipients: string[]): Promise<string[]> {
    if (!recipients.length) return [];
    const blocked = new Set(await this.users.blockedAmong(userId, recipients));
    return blocked.size ? recipients.filter((id) => !blocked.has(id)) : recipients;
  }
}
