import { Injectable } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { AuthContext } from '../auth/auth-context';
import { isUuid } from '../core/database/ids';
import { onForeignKeyGone } from '../core/database/query-results';
import { AppError } from '../core/errors';
import { ChatsRepository } from './chats.repository';
import { ChatsService, MAX_GROUP_MEMBERS } from './chats.service';
import { ChatDto } from './dto/chat.dto';
import { CreateInviteLinkDto, InviteLinkDto, InvitePreviewDto, InviteRevokedDto } from './dto/invite-link.dto';
import { InviteLinkRow, InviteLinksRepository } from './invite-links.repository';

/** Active links per chat (wire-contract-v2.2 §6, our rule). */
export const MAX_ACTIVE_INVITE_LINKS = 20;
/** 16 random bytes in base64url: 22 characters, 128 bits, never equal to a path word. */
const CODE_BYTES = 16;
const CODE_SHAPE = /^[A-Za-z0-9_-]{22}$/;
const REMOVED = 'You were removed from this group; an admin can add you back';

/**
 * Invite links of groups: the OWNER and ADMINs create, list and revoke them; any signed-in user
 * previews and joins by code. A code is looked up by its SHA-256 digest (so the lookup's timing
 * tells nothing about the code), and a code of any other shape is refused before the database.
 */
@Injectable()
export class InviteLinksService {
  constructor(
    private readonly links: InviteLinksRepository,
    private readonly chatsRepository: ChatsRepository,
    private readonly chats: ChatsService,
  ) {}

  /**
   * A new link; at most MAX_ACTIVE_INVITE_LINKS active ones per chat, counted (and room made)
   * under the chat's lock, so creations at once never pass it. At the limit, the oldest active
   * link never used is revoked to make room: the web client makes a link with no expiry or use
   * limit at each click and has no screen to revoke one, so a plain refusal would leave its group
   * without a new link for good. Only when every active link has been used (someone may be
   * relying on each) is the new one refused.
   */
  async create(auth: AuthContext, chatId: string, input: CreateInviteLinkDto): Promise<InviteLinkDto> {
    await this.chats.authorize(chatId, auth.userId, 'manage-invites');
    const code = randomBytes(CODE_BYTES).toString('base64url');
    const row = await this.links.transaction(async (tx) => {
      // Under the chat's lock, on the role as committed: an admin demoted meanwhile makes no link.
      await this.chats.authorize(chatId, auth.userId, 'manage-invites', { tx });
      if ((await this.links.countActive(tx, chatId)) >= MAX_ACTIVE_INVITE_LINKS && !(await this.links.revokeOldestUnused(tx, chatId))) {
        throw new AppError('INVITE_LINK_LIMIT', `A chat has at most ${MAX_ACTIVE_INVITE_LINKS} active invite links, and each of them has been used: revoke one first`);
      }
      return this.links.create(tx, {
        chatId,
        code,
        codeHash: digest(code),
        createdBy: auth.userId,
        expiresInHours: input.expiresInHours ?? null,
        maxUses: input.maxUses ?? null,
      });
    });
    return toDto(row);
  }

  /** The chat's active links, newest first. */
  async list(auth: AuthContext, chatId: string): Promise<InviteLinkDto[]> {
    await this.chats.authorize(chatId, auth.userId, 'manage-invites');
    return (await this.links.listActive(chatId)).map(toDto);
  }

  /** Revokes a link (a repeat answers the same, as DELETE retries need); the link's chat decides who may. */
  async revoke(auth: AuthContext, linkId: string): Promise<InviteRevokedDto> {
    const link = isUuid(linkId) ? await this.links.byId(linkId) : null;
    if (!link) throw new AppError('INVITE_NOT_FOUND');
    await this.links.transaction(async (tx) => {
      // Under the chat's lock, on the role as committed (an admin demoted meanwhile revokes nothing).
      await this.chats.authorize(link.chatId, auth.userId, 'manage-invites', { tx }).catch((error: unknown) => {
        // Someone outside the chat learns nothing about its links.
        throw error instanceof AppError && error.code === 'CHAT_NOT_FOUND' ? new AppError('INVITE_NOT_FOUND') : error;
      });
      await this.links.revoke(tx, link.id);
    });
    return { revoked: true };
  }

  /** What a code leads to; someone a manager removed is told at once what their join would answer (FORBIDDEN). */
  async preview(auth: AuthContext, code: string): Promise<InvitePreviewDto> {
    const link = await this.links.byCodeHash(digestOf(code));
    if (!link || link.revokedAt) throw new AppError('INVITE_NOT_FOUND');
    const chat = await this.links.preview(link.chatId, auth.userId);
    if (!chat) throw new AppError('INVITE_NOT_FOUND');
    if (chat.callerRemoved) throw new AppError('FORBIDDEN', REMOVED);
    if (link.spent) throw new AppError('INVITE_EXPIRED');
    return { code: link.code, chat: { id: chat.id, name: chat.name, avatar: chat.avatar, description: chat.description, _count: { members: chat.memberCount } } };
  }

  /**
   * Adds the caller as MEMBER and counts one use. Joins of one chat queue on its row lock, then
   * read the link afresh under its own lock: the use limit and the group's member limit hold
   * however many join at once. A member joining again gets the chat and counts no use (nor a
   * group change, which a join that adds the caller does: RATE_LIMIT_GROUP_CHANGES). Someone a
   * manager removed is refused (FORBIDDEN) until a manager adds them back: a link an owner cannot
   * see from the web client must not undo a removal.
   */
  async join(auth: AuthContext, code: string): Promise<ChatDto> {
    const codeHash = digestOf(code);
    const found = await this.links.byCodeHash(codeHash);
    if (!found || found.revokedAt) throw new AppError('INVITE_NOT_FOUND');
    const chatId = found.chatId;
    const { before, added } = await this.links.transaction(async (tx) => {
      // The chat first, then the link: the order a group's deletion takes them in.
      const type = await this.links.lockChat(tx, chatId);
      const link = type ? await this.links.byCodeHash(codeHash, tx, { lock: true }) : null;
      if (!link || link.revokedAt) throw new AppError('INVITE_NOT_FOUND');
      if (type !== 'GROUP') throw new AppError('NOT_A_GROUP');
      const members = await this.chatsRepository.memberIds(chatId, tx);
      if (members.includes(auth.userId)) return { before: members, added: [] };
      if (await this.chatsRepository.wasRemoved(tx, chatId, auth.userId)) throw new AppError('FORBIDDEN', REMOVED);
      if (link.spent) throw new AppError('INVITE_EXPIRED');
      if (members.length >= MAX_GROUP_MEMBERS) throw new AppError('GROUP_LIMIT_EXCEEDED');
      // A join reaches every member as an addition does: a join-and-leave loop through a link is budgeted.
      await this.chats.countGroupChange(auth.userId, 'group-changes');
      const joined = await callerStillThere(this.chatsRepository.addMembers(tx, chatId, [auth.userId]));
      await this.links.countUse(tx, link.id);
      return { before: members, added: joined };
    });
    if (added.length) await this.chats.announceAdded(chatId, before, added);
    return this.chats.get(auth, chatId);
  }
}

/** The caller's account was deleted between the session check and the insert: their session is gone with it. */
const callerStillThere = <T>(work: Promise<T>): Promise<T> => onForeignKeyGone(work, () => new AppError('UNAUTHORIZED'), 'chat_members_user_id_fkey');

const digest = (code: string): Buffer => createHash('sha256').update(code).digest();

/** The digest of a well-formed code; anything else is unknown without asking the database. */
export function digestOf(code: string): Buffer {
  if (!CODE_SHAPE.test(code)) throw new AppError('INVITE_NOT_FOUND');
  return digest(code);
}

function toDto(row: InviteLinkRow): InviteLinkDto {
  return {
    id: row.id,
    code: row.code,
    expiresAt: row.expiresAt === null ? null : new Date(row.expiresAt).toISOString(),
    maxUses: row.maxUses,
    uses: row.uses,
    createdAt: new Date(row.createdAt).toISOString(),
  };
}
