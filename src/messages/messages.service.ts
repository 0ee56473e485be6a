import { Injectable, Logger } from '@nestjs/common';
import { isUuid } from '../core/database/ids';
import { isForeignKeyViolation, isUniqueViolation } from '../core/database/query-results';
import { AppError } from '../core/errors';
import { PresenceRelations } from '../presence/presence-relations';
import { PresenceStore } from '../realtime/presence/presence-store';
import { RealtimePublisher } from '../realtime/realtime-publisher';
import { BlockPolicy, RefusedInChat } from '../users/block-policy';
import { receiptVisible } from '../users/read-receipts';
import { ChatsService } from '../chats/chats.service';
import { Membership } from '../chats/chats.repository';
import { AroundQuery, EditMessageDto, HistoryQuery, MAX_TEXT, SearchQuery, SendMessageDto } from './dto/message-requests.dto';
import { mayDeleteForEveryone } from './delete-policy';
import { MessageDto, MessagePageDto, ReactionDto, SharedPageDto } from './dto/message.dto';
import { MEDIA_TYPES, MessageEntity, MessageType } from './entities/message.entity';
import './message-events';
import { MessageViews, toReactionDto } from './message-views';
import { HistoryFilters, MessagesRepository, NewMessage, RichMessageRow, SendContext, StoredMessage, WatermarkRow } from './messages.repository';
import { MediaResolver } from './media-resolver';

/** A send's result: the stored message, and whether it had been stored before (a retried clientMessageId). */
export interface SendOutcome {
  message: MessageDto;
  resent: boolean;
}

/**
 * Messages: sending (over the socket), history, edits, deletion, read state, voice listens and
 * reactions. Every operation starts from the caller's membership; a non-member gets NOT_FOUND.
 */
@Injectable()
export class MessagesService {
  private readonly logger = new Logger('Messages');

  constructor(
    private readonly messages: MessagesRepository,
    private readonly views: MessageViews,
    private readonly chats: ChatsService,
    private readonly blocks: BlockPolicy,
    private readonly media: MediaResolver,
    private readonly realtime: RealtimePublisher,
    private readonly presence: PresenceStore,
    private readonly relations: PresenceRelations,
  ) {}

  /**
   * Validates and stores a message, then publishes it: `chat:new` to a direct-chat target on the
   * first message, `message:new` to every member (the sender's devices included, with their
   * clientMessageId), `message:delivered` to the sender when another member is online.
   * A repeated clientMessageId returns the stored message instead of a second row, marked
   * `resent`: nothing is published then, the retrying socket alone is answered (MessagesSocket).
   */
  async send(senderId: string, input: SendMessageDto): Promise<SendOutcome> {
    if (!isUuid(input.chatId)) throw new AppError('CHAT_NOT_FOUND');
    // Fast path, one statement: a text (or ciphertext) draft checked against the chat inside
    // the insert. Whatever it refuses goes the checked way below, which names the reason.
    // Media and forwards are checked against other rows first: they take the checked way.
    const draft = input.mediaUrl || input.forwardedFromId ? null : await this.draft(senderId, input.chatId, !!input.ciphertext, input).catch(() => null);
    const stored = draft ? await this.store(senderId, input, draft, !!input.ciphertext) : null;
    if (stored && !('resent' in stored)) return { message: await this.publishSent(senderId, input, stored), resent: false };
    if (stored) return { message: stored.resent, resent: true };
    return this.sendChecked(senderId, input);
  }

  /** The slow path: membership, duplicate, blocks, reply and content checked one by one, in the API's order. */
  private async sendChecked(senderId: string, input: SendMessageDto): Promise<SendOutcome> {
    const context = await this.messages.sendContext(input.chatId, senderId, input.clientMessageId ?? null);
    if (!context || !context.visible) throw new AppError('CHAT_NOT_FOUND');
    if (context.duplicateId) {
      const existing = await this.messages.findById(context.duplicateId);
      if (existing) return { message: await this.views.buildOne(existing, senderId), resent: true };
    }
    const draft = await this.validate(senderId, context, input);
    const stored = await this.store(senderId, input, draft, context.type === 'SECRET');
    if (!stored) throw new AppError('CHAT_NOT_FOUND');
    return 'resent' in stored ? { message: stored.resent, resent: true } : { message: await this.publishSent(senderId, input, stored), resent: false };
  }

  /** Inserts; a clientMessageId that won a race in between resolves to the stored message. */
  private async store(senderId: string, input: SendMessageDto, draft: NewMessage, secret: boolean): Promise<StoredMessage | { resent: MessageDto } | null> {
    try {
      return await this.messages.insert(draft, secret);
    } catch (error) {
      if (input.clientMessageId && isUniqueViolation(error, 'messages_client_id_key')) {
        const existing = await this.messages.findByClientId(senderId, input.clientMessageId);
        if (existing) return { resent: await this.views.buildOne(existing, senderId) };
      }
      // The upload was deleted (its last other message went) between the media check and the insert.
      if (isForeignKeyViolation(error, 'messages_media_url_fkey')) throw new AppError('MEDIA_NOT_FOUND');
      throw error;
    }
  }

  private async publishSent(senderId: string, input: SendMessageDto, stored: StoredMessage): Promise<MessageDto> {
    const dto = await this.views.buildFresh(stored.message, stored.sender);
    if (stored.revealedTo.length) {
      await this.chats.publishChat(stored.revealedTo, input.chatId, 'chat:new');
      // The chat now on their screen shows its members' presence: tell them its current state.
      // Best effort: the message is stored, and its publication below must not depend on this.
      await this.relations.started([{ viewers: stored.revealedTo, subjects: stored.memberIds }]).catch((error: Error) => this.logger.warn(`presence of a revealed chat not sent: ${error.message}`));
    }
    const others = stored.memberIds.filter((id) => id !== senderId);
    // One event for the members and the sender's devices, delivered in the chat's order on every
    // instance; one Redis connection carries it before message:delivered.
    const position = { chatId: dto.chatId, seq: dto.seq };
    const own = input.clientMessageId ? { ...dto, clientMessageId: input.clientMessageId } : dto;
    const [, delivered] = await Promise.all([
      this.realtime.toAudiences('message:new', [{ userIds: others, payload: dto }, { userIds: [senderId], payload: own }], position),
      this.presence.anyOnline(others),
    ]);
    if (delivered) {
      await this.realtime.toUsers([senderId], 'message:delivered', { messageId: dto.id, chatId: dto.chatId });
    }
    // The send cleared the sender's draft of the chat (in the insert statement): their other devices drop it too.
    if (stored.draftCleared) await this.realtime.toUsers([senderId], 'draft:updated', { chatId: dto.chatId, text: null, replyToId: null });
    return dto;
  }

  /**
   * A page of history. The plain page is one statement (the page and the members' read
   * watermarks, gated by the caller's membership); a search inside the chat reads the
   * watermarks first, since a secret chat has nothing the server could search.
   */
  async history(userId: string, chatId: string, query: HistoryQuery): Promise<MessagePageDto> {
    if (!isUuid(chatId)) throw new AppError('CHAT_NOT_FOUND');
    const limit = query.limit ?? 50;
    const before = query.cursor ?? null;
    const filters = historyFilters(query);
    if (!query.q) {
      const found = await this.messages.historyPage(chatId, userId, { before, limit: limit + 1 }, filters);
      if (!found) throw new AppError('CHAT_NOT_FOUND');
      return this.page(found.rows, limit, found.watermarks, userId);
    }
    const watermarks = await this.messages.chatWatermarks(chatId, userId);
    const own = watermarks.find((w) => w.userId === userId);
    if (!own || !own.visible) throw new AppError('CHAT_NOT_FOUND');
    const prefixQuery = own.chatType === 'SECRET' ? null : await this.messages.prefixQuery(query.q);
    if (!prefixQuery) return { messages: [], nextCursor: null };
    const rows = await this.messages.searchInChat(chatId, userId, { before, limit: limit + 1, query: prefixQuery }, filters);
    return this.page(rows, limit, watermarks, userId);
  }

  /**
   * Jump to a date (§7.1): the `limit` oldest messages from `date` on, filled up with the newest
   * before it, newest first; nextCursor is the oldest returned id while older history exists.
   */
  async around(userId: string, chatId: string, query: AroundQuery): Promise<MessagePageDto> {
    if (!isUuid(chatId)) throw new AppError('CHAT_NOT_FOUND');
    const limit = query.limit ?? 50;
    const found = await this.messages.aroundPage(chatId, userId, new Date(query.date), limit);
    if (!found) throw new AppError('CHAT_NOT_FOUND');
    return this.page(found.rows, limit, found.watermarks, userId);
  }

  /** Search as you type over every non-secret chat the caller can see: every word of the term is a word prefix. */
  async search(userId: string, query: SearchQuery): Promise<MessagePageDto> {
    const limit = query.limit ?? 30;
    const prefixQuery = await this.messages.prefixQuery(query.q);
    if (!prefixQuery) return { messages: [], nextCursor: null };
    const rows = await this.messages.search(userId, prefixQuery, { before: query.cursor ?? null, limit: limit + 1 });
    const watermarks = await this.messages.watermarks([...new Set(rows.slice(0, limit).map((m) => m.chatId))], [userId]);
    return this.page(rows, limit, watermarks, userId);
  }

  async shared(userId: string, chatId: string, query: { type?: MessageType; tab?: string; cursor?: string; limit?: number }): Promise<SharedPageDto> {
    await this.chats.requireMember(chatId, userId);
    const types: MessageType[] = query.type
      ? [query.type]
      : query.tab === 'media'
        ? ['IMAGE', 'VIDEO']
        : query.tab === 'files'
          ? ['FILE']
          : query.tab === 'voice'
            ? ['AUDIO']
            : query.tab === 'links'
              ? []
              : MEDIA_TYPES;
    const limit = query.limit ?? 30;
    if (!types.length) return { items: [], nextCursor: null };
    const rows = await this.messages.sharedMedia(chatId, userId, types, { before: query.cursor ?? null, limit: limit + 1 });
    const page = rows.slice(0, limit);
    const dtos = await this.views.build(page, userId);
    return {
      items: dtos.map((m) => ({ id: m.id, type: m.type, mediaUrl: m.mediaUrl!, mediaName: m.mediaName, mediaSize: m.mediaSize, createdAt: m.createdAt, sender: m.sender })),
      nextCursor: rows.length > limit ? page[page.length - 1].id : null,
    };
  }

  async edit(userId: string, messageId: string, input: EditMessageDto): Promise<MessageDto> {
    const { message, membership } = await this.requireMessage(messageId, userId, 'message:edit');
    if (message.senderId !== userId) throw new AppError('NOT_MESSAGE_AUTHOR');
    let changes: { text: string | null; ciphertext: string | null; signalType: number | null };
    if (membership.chat.type === 'SECRET') {
      if (input.text !== undefined) throw new AppError('PLAINTEXT_IN_SECRET_CHAT');
      if (!input.ciphertext || input.signalType === undefined) throw new AppError('CIPHERTEXT_REQUIRED');
      changes = { text: null, ciphertext: input.ciphertext, signalType: input.signalType };
    } else {
      if (message.type !== 'TEXT') throw invalid('type', 'only text messages can be edited');
      if (input.ciphertext !== undefined || input.signalType !== undefined) throw invalid('ciphertext', 'ciphertext belongs to secret chats');
      changes = { text: checkedText(input.text), ciphertext: null, signalType: null };
    }
    const updated = await this.messages.updateContent(messageId, changes);
    // Members who hid the message do not get it back through its edit.
    const audience = await this.messages.audienceOf(message.chatId, messageId);
    const views = await this.views.buildForEach(updated, [...new Set([userId, ...audience])]);
    for (const view of views) await this.realtime.toUsers(view.viewerIds.filter((id) => audience.includes(id)), 'message:edited', view.dto);
    return views.find((view) => view.viewerIds.includes(userId))!.dto;
  }

  /**
   * Deletes a message for everyone (§7.3; `forEveryone` absent keeps v1.1's meaning, the same),
   * as delete-policy.ts allows, and its media unless another message (or an avatar) still shows
   * it; every member learns the chat's new last message as they see it. `forEveryone=false`
   * hides it for the caller only.
   */
  async delete(userId: string, messageId: string, forEveryone = true): Promise<void> {
    if (!forEveryone) return void (await this.hide(userId, messageId));
    const { message, membership } = await this.requireMessage(messageId, userId, 'message:delete');
    const allowed = await mayDeleteForEveryone({
      actorId: userId,
      actorRole: membership.role,
      chatType: membership.chat.type,
      message,
      senderRole: () => (message.senderId ? this.chats.roleOf(message.chatId, message.senderId) : Promise.resolve(null)),
    });
    if (!allowed) throw new AppError('FORBIDDEN', 'You cannot delete this message for everyone');
    const { lastId, removeFiles } = await this.messages.transaction(async (tx) => ({
      lastId: await this.messages.delete(tx, message),
      removeFiles: await this.media.release(tx, message.mediaUrl),
    }));
    await removeFiles();
    // Members who hid messages of the chat may see an older last message than the chat's own.
    const members = await this.chats.memberIds(message.chatId);
    const lastOf = new Map<string, string | null>(members.map((id) => [id, lastId]));
    for (const hider of await this.messages.lastVisibleOfHiders(message.chatId)) if (lastOf.has(hider.userId)) lastOf.set(hider.userId, hider.lastId);
    const lastMessages = new Map((await this.messages.findByIds([...new Set([...lastOf.values()].filter((id): id is string => !!id))])).map((m) => [m.id, m]));
    for (const [lastMessageId, viewerIds] of groupViewers(lastOf)) {
      const last = lastMessageId ? lastMessages.get(lastMessageId) : undefined;
      const views = last ? await this.views.buildForEach(last, viewerIds) : [{ viewerIds, dto: null }];
      for (const view of views) await this.realtime.toUsers(view.viewerIds, 'message:deleted', { messageId, chatId: message.chatId, newLastMessage: view.dto });
    }
  }

  /**
   * Delete for me (§7.2): the message leaves the caller's history, search, shared media, unread
   * count and last message, and nobody else's. Any member may hide any message of the chat;
   * again is a no-op. The caller's sockets get `message:deleted` with the newest message they
   * can still see.
   */
  async hide(userId: string, messageId: string): Promise<{ messageId: string; hidden: true }> {
    const result = isUuid(messageId) ? await this.messages.hide(messageId, userId) : null;
    if (!result) throw new AppError('MESSAGE_NOT_FOUND');
    if (result.created) {
      const last = await this.messages.lastVisible(result.chatId, userId);
      const newLastMessage = last ? await this.views.buildOne(last, userId) : null;
      await this.realtime.toUsers([userId], 'message:deleted', { messageId, chatId: result.chatId, newLastMessage });
    }
    return { messageId, hidden: true };
  }

  /**
   * Marks everything up to the message read for the caller: one watermark update. Members hear
   * of it as far as the reader's showReadReceipts allows.
   */
  async markRead(userId: string, messageId: string, chatId?: string): Promise<{ messageId: string; chatId: string; readAt: string | null }> {
    const { message } = await this.requireMessage(messageId, userId, 'message:read');
    if (chatId && chatId !== message.chatId) throw new AppError('MESSAGE_NOT_FOUND');
    const readAt = await this.messages.markRead(message.chatId, userId, Number(message.seq));
    if (readAt) {
      const members = (await this.chats.memberIds(message.chatId)).filter((id) => id !== userId);
      const audience = await this.readAudience(userId, members);
      await this.realtime.toUsers(audience, 'message:read', { messageId, chatId: message.chatId, readBy: userId, readAt: new Date(readAt).toISOString() });
    }
    return { messageId, chatId: message.chatId, readAt: readAt ? new Date(readAt).toISOString() : null };
  }

  /** A voice message was played: its sender hears of it once per listener. */
  async markListened(userId: string, messageId: string): Promise<void> {
    const { message } = await this.requireMessage(messageId, userId, 'message:listened');
    if (message.type !== 'AUDIO') throw invalid('messageId', 'only voice messages can be listened to');
    if (message.senderId === userId || !(await this.messages.addListen(messageId, userId))) return;
    if (message.senderId) {
      await this.realtime.toUsers([message.senderId], 'message:listened', { messageId, chatId: message.chatId, listenedBy: userId });
    }
  }

  async addReaction(userId: string, messageId: string, emoji: string): Promise<ReactionDto> {
    const { message } = await this.requireMessage(messageId, userId, 'reaction');
    const { reaction, created } = await this.messages.addReaction(messageId, userId, emoji);
    const dto = toReactionDto(reaction);
    if (created) await this.realtime.toUsers(await this.messages.audienceOf(message.chatId, messageId), 'reaction:added', { reaction: dto, chatId: message.chatId, messageId });
    return dto;
  }

  async removeReaction(userId: string, messageId: string, emoji: string): Promise<void> {
    const { message } = await this.requireMessage(messageId, userId, 'reaction');
    if (await this.messages.removeReaction(messageId, userId, emoji)) {
      await this.realtime.toUsers(await this.messages.audienceOf(message.chatId, messageId), 'reaction:removed', { messageId, userId, emoji, chatId: message.chatId });
    }
  }

  /** Members who may learn that `readerId` read something: the rule that also cuts `readReceipts` (read-receipts.ts). */
  private async readAudience(readerId: string, members: string[]): Promise<string[]> {
    if (!members.length) return [];
    const reader = await this.messages.receiptFacts(readerId, members);
    return members.filter((id) => receiptVisible(reader, id));
  }

  /** The message and the caller's membership of its chat, once the block policy lets the caller do `action` there. */
  private async requireMessage(messageId: string, userId: string, action: RefusedInChat): Promise<{ message: MessageEntity; membership: Membership }> {
    const message = isUuid(messageId) ? await this.messages.findById(messageId) : null;
    if (!message) throw new AppError('MESSAGE_NOT_FOUND');
    let membership: Membership;
    try {
      membership = await this.chats.requireMember(message.chatId, userId);
    } catch {
      throw new AppError('MESSAGE_NOT_FOUND');
    }
    await this.blocks.requireInChat(action, userId, membership.chat);
    return { message, membership };
  }

  private async validate(senderId: string, chat: SendContext, input: SendMessageDto): Promise<NewMessage> {
    this.blocks.refuseIf('message:send', chat.blocked);
    if (input.replyToId && !(await this.messages.existsInChat(input.replyToId, chat.chatId))) {
      throw new AppError('MESSAGE_NOT_FOUND', 'The replied-to message is not in this chat');
    }
    if (input.forwardedFromId) return this.forwardDraft(senderId, chat, input, input.forwardedFromId);
    return this.draft(senderId, chat.chatId, chat.type === 'SECRET', input);
  }

  /**
   * A forward (§8.1): the original must be a message the sender can see (else MESSAGE_NOT_FOUND,
   * which reveals nothing), neither SYSTEM nor in a SECRET chat, and the target not SECRET (else
   * FORWARD_NOT_ALLOWED). Its content is copied from the original, not taken from the frame: its
   * media was shown to the sender already, so no upload ownership is asked; the name shown is the
   * original's own forwardSenderName, else its sender's display name.
   */
  private async forwardDraft(senderId: string, chat: SendContext, input: SendMessageDto, originalId: string): Promise<NewMessage> {
    if (chat.type === 'SECRET') throw new AppError('FORWARD_NOT_ALLOWED', 'Messages cannot be forwarded into a secret chat');
    const original = await this.messages.forwardSource(originalId, senderId);
    if (!original || !original.readable) throw new AppError('MESSAGE_NOT_FOUND', 'The forwarded message is not one you can see');
    if (original.chatType === 'SECRET') throw new AppError('FORWARD_NOT_ALLOWED', 'Messages of a secret chat cannot be forwarded');
    if (original.type === 'SYSTEM') throw new AppError('FORWARD_NOT_ALLOWED', 'Group events cannot be forwarded');
    const senderName = original.senderNickname === null ? null : displayName(original.senderNickname, original.senderFirstName, original.senderLastName);
    return {
      chatId: chat.chatId,
      senderId,
      type: original.type,
      text: original.text,
      mediaUrl: original.mediaUrl,
      mediaName: original.mediaName,
      mediaSize: original.mediaSize === null ? null : Number(original.mediaSize),
      mediaGroupId: input.mediaGroupId ?? null,
      replyToId: input.replyToId ?? null,
      forwardedFromId: original.id,
      forwardSenderName: original.forwardSenderName ?? senderName ?? input.forwardSenderName ?? null,
      ciphertext: null,
      signalType: null,
      clientMessageId: input.clientMessageId ?? null,
    };
  }

  /** The row to store, from the input alone once the chat's kind is known; throws the content errors. */
  private async draft(senderId: string, chatId: string, secret: boolean, input: SendMessageDto): Promise<NewMessage> {
    const base = {
      chatId,
      senderId,
      mediaGroupId: input.mediaGroupId ?? null,
      replyToId: input.replyToId ?? null,
      forwardedFromId: null,
      forwardSenderName: null,
      clientMessageId: input.clientMessageId ?? null,
    };
    if (secret) {
      // The server relays ciphertext only; media travels inside it, opaque to the server.
      if ((input.text ?? '') !== '' || input.mediaUrl) throw new AppError('PLAINTEXT_IN_SECRET_CHAT');
      if (!input.ciphertext || input.signalType === undefined || input.signalType === null) throw new AppError('CIPHERTEXT_REQUIRED');
      return { ...base, type: input.type ?? 'TEXT', text: null, mediaUrl: null, mediaName: null, mediaSize: null, ciphertext: input.ciphertext, signalType: input.signalType };
    }
    if (input.ciphertext || input.signalType !== undefined && input.signalType !== null) throw invalid('ciphertext', 'ciphertext belongs to secret chats');
    if (!input.mediaUrl) {
      if (input.type && input.type !== 'TEXT') throw invalid('mediaUrl', `a ${input.type} message needs a mediaUrl`);
      return { ...base, type: 'TEXT', text: checkedText(input.text), mediaUrl: null, mediaName: null, mediaSize: null, ciphertext: null, signalType: null };
    }
    const media = await this.media.resolve(senderId, input.mediaUrl);
    const caption = input.text?.trim() ? checkedText(input.text) : null;
    return {
      ...base,
      // The upload's bytes decide the type (the web client relies on it: audio/webm is AUDIO).
      type: media.type,
      text: caption,
      mediaUrl: media.url,
      mediaName: input.mediaName?.slice(0, 255) ?? media.name,
      mediaSize: media.size,
      ciphertext: null,
      signalType: null,
    };
  }

  private page(rows: RichMessageRow[], limit: number, watermarks: WatermarkRow[], viewerId: string): MessagePageDto {
    const page = rows.slice(0, limit);
    return { messages: this.views.buildRich(page, watermarks, viewerId), nextCursor: rows.length > limit ? page[page.length - 1].id : null };
  }
}

/** The history filters of a query, or null when it has none (the plain page keeps its prepared statement). */
function historyFilters(query: HistoryQuery): HistoryFilters | null {
  if (!query.from && !query.to && !query.senderId && !query.type) return null;
  return {
    from: query.from ? new Date(query.from) : undefined,
    to: query.to ? new Date(query.to) : undefined,
    senderId: query.senderId,
    type: query.type,
  };
}

/** The wire contract's display name: `firstName lastName` (the non-empty parts), else the nickname. */
function displayName(nickname: string, firstName: string | null, lastName: string | null): string {
  return [firstName, lastName].filter((part) => part && part.trim()).join(' ') || nickname;
}

/** Viewers grouped by a value each of them sees (here: the id of their chat's last message). */
function groupViewers<K>(byViewer: Map<string, K>): Map<K, string[]> {
  const groups = new Map<K, string[]>();
  for (const [viewerId, key] of byViewer) {
    const group = groups.get(key);
    if (group) group.push(viewerId);
    else groups.set(key, [viewerId]);
  }
  return groups;
}

function checkedText(text: string | null | undefined): string {
  const trimmed = (text ?? '').trim();
  if (!trimmed) throw invalid('text', 'text must not be empty');
  if ([...trimmed].length > MAX_TEXT) throw invalid('text', `text must be at most ${MAX_TEXT} characters`);
  return trimmed;
}

function invalid(field: string, message: string): AppError {
  return new AppError('VALIDATION_ERROR', message, { errors: { [field]: [message] } });
}
