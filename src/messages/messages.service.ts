import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { isUuid } from '../core/database/ids';
import { isForeignKeyViolation, isUniqueViolation } from '../core/database/query-results';
import { AppError } from '../core/errors';
import { AppConfig } from '../core/config/app-config';
import { RateLimiter } from '../core/rate-limit/rate-limiter';
import { PresenceRelations } from '../presence/presence-relations';
import { PushNotifier } from '../push/push.notifier';
import { PresenceStore } from '../realtime/presence/presence-store';
import { FramePlace } from '../realtime/on-socket-event.decorator';
import { RealtimePublisher } from '../realtime/realtime-publisher';
import { encodeFrame, withLastKey } from '../realtime/client-events';
import { BlockPolicy, RefusedInChat } from '../users/block-policy';
import { UsersService } from '../users/users.service';
import { atMostCodePoints } from '../core/text/code-points';
import { displayName } from '../users/display-name';
import { receiptVisible } from '../users/read-receipts';
import { ChatsService } from '../chats/chats.service';
import { Membership } from '../chats/chats.repository';
import { AroundQuery, EditMessageDto, HistoryQuery, MAX_TEXT, SearchQuery, SendMessageDto } from './dto/message-requests.dto';
import { decide } from '../chats/chat-policy';
import { MessageDto, MessagePageDto, ReactionDto, SharedPageDto } from './dto/message.dto';
import { MEDIA_TYPES, MessageEntity, MessageType } from './entities/message.entity';
import './message-events';
import { MessageViews, toReactionDto } from './message-views';
import type { MessageSet } from './message-set';
import { HistoryFilters, MessagesRepository, NewMessage, SendContext, StoredMessage, WatermarkRow } from './messages.repository';
import { MediaResolver } from './media-resolver';
import { BatchedMessage, SendBatcher } from './send-batcher';
import { fileNameOf } from '../uploads/upload-names';

/** A send's result: the stored message, and whether it had been stored before (a retried clientMessageId). */
export interface SendOutcome {
  message: MessageDto;
  resent: boolean;
}

/** How many times the checked send path runs when its store keeps finding the chat changed. */
const SEND_TRIES = 3;
/** Tries to publish a stored message the send path could not (publishLater), 0.5 s to 15 s apart: about a minute. */
const PUBLISH_LATER_TRIES = 8;

/**
 * How many of a deleted account's newest messages in each group its members are told deleted
 * (`message:deleted`): two pages of history, what a member can have on screen. Older ones are gone
 * from the next page a client loads; telling all of them would cost an event per message per member.
 * (Besides these, those a replay of the event log can still show: see onModuleInit.)
 */
const DELETED_ACCOUNT_TOLD = 100;
/**
 * Added to the event log's age limit when choosing a deleted account's messages a replay can
 * still show: a message's message:new is appended a moment after its row is stored, and the
 * database's clock and the instances' may be a little apart.
 */
const LOG_AGE_SLACK_SECONDS = 60;

/** The place of a send that waits for nothing (not one of a socket's pipelined frames). */
const IMMEDIATE: FramePlace = { admitted: () => undefined, inTurn: () => Promise.resolve() };

/**
 * Messages: sending (over the socket), history, edits, deletion, read state, voice listens and
 * reactions. Every operation starts from the caller's membership; a non-member gets NOT_FOUND.
 */
@Injectable()
export class MessagesService implements OnModuleInit {
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
    private readonly push: PushNotifier,
    private readonly batcher: SendBatcher,
    private readonly users: UsersService,
    private readonly limiter: RateLimiter,
    private readonly config: AppConfig,
  ) {}

  /**
   * A deleted account's messages go from every group it wrote in: the members get
   * `message:deleted` for each, with the chat's last message as they see it afterwards, for the
   * newest of them (DELETED_ACCOUNT_TOLD a group: what a loaded page can show) and for every one
   * whose message:new a member who was offline can still replay from their event log (created
   * within its age limit). Of the latter, at most the log's count limit a chat: a member's log
   * keeps that many events, so that many deletions push every older message:new out of it, and a
   * client whose position is older gets resync_required and reloads instead of replaying it.
   * (Its direct and secret chats go whole: chat:deleted.)
   */
  onModuleInit(): void {
    const { eventLogMaxAgeSeconds, eventLogMaxEvents } = this.config.values;
    const replayable = { seconds: eventLogMaxAgeSeconds + LOG_AGE_SLACK_SECONDS, perChat: eventLogMaxEvents };
    this.users.onAccountDeletion(async (tx, userId) => {
      const gone = await this.messages.newestOfSenderInGroups(tx, userId, DELETED_ACCOUNT_TOLD, replayable);
      return async () => {
        for (const { chatId, ids } of gone) {
          const lastId = await this.messages.lastMessageIdOf(chatId);
          // undefined: the group went too (it had nobody else).
          if (lastId !== undefined) await this.announceDeleted(chatId, ids, lastId);
        }
      };
    });
  }

  /**
   * Validates and stores a message (with the next group commit), then publishes it: `chat:new` to
   * a direct-chat target on the first message, `message:new` to every member (the sender's devices
   * included, with their clientMessageId), `message:delivered` to the sender when another member
   * is online. Resolves once the message is committed and its publication has begun: the
   * publication goes on by itself (delivery keeps each chat's order: ChatOrderedDelivery), so the
   * socket's next frame does not wait for Redis round trips.
   * A repeated clientMessageId returns the stored message instead of a second row, marked
   * `resent`: nothing is published then, the retrying socket alone is answered (MessagesSocket).
   *
   * `place` is the frame's among its socket's frames (the gateway pipelines message:send): the
   * message is admitted once queued for its batch, so the socket's next message can join the
   * same batch, and it is published only when the socket's earlier frames have been answered.
   * (A message the batch's checks refused takes the checked way; should those checks pass after
   * all, because the chat or a block changed in between, it is stored after the socket's next
   * messages.)
   */
  async send(senderId: string, input: SendMessageDto, place: FramePlace = IMMEDIATE): Promise<SendOutcome> {
    if (!isUuid(input.chatId)) throw new AppError('CHAT_NOT_FOUND');
    // Fast path, one statement: a text (or ciphertext) draft checked against the chat inside
    // the insert. Whatever it refuses goes the checked way below, which names the reason.
    // Media and forwards are checked against other rows first: they take the checked way.
    const draft = input.mediaUrl || input.forwardedFromId ? null : await this.draft(senderId, input.chatId, !!input.ciphertext, input).catch(() => null);
    const stored = draft ? await this.store(senderId, input, draft, !!input.ciphertext, place) : null;
    if (stored && !('resent' in stored)) return { message: await this.publishSent(senderId, input, stored, place), resent: false };
    if (stored) return { message: stored.resent, resent: true };
    return this.sendChecked(senderId, input, place);
  }

  /**
   * The slow path: membership, duplicate, blocks, reply and content checked one by one, in the
   * API's order. The store can still leave the message out when the chat changed after the
   * checks (a member removed meanwhile, a block, a same clientMessageId stored meanwhile): the
   * checks then run again, and name the reason, or store it; a chat changing under every try
   * answers CHAT_NOT_FOUND.
   */
  private async sendChecked(senderId: string, input: SendMessageDto, place: FramePlace, tries = SEND_TRIES): Promise<SendOutcome> {
    const context = await this.messages.sendContext(input.chatId, senderId, input.clientMessageId ?? null);
    if (!context || !context.visible) throw new AppError('CHAT_NOT_FOUND');
    if (context.duplicateId) {
      const existing = await this.messages.findById(context.duplicateId);
      if (existing) return { message: await this.views.buildOne(sameChat(existing, input), senderId), resent: true };
    }
    const draft = await this.validate(senderId, context, input);
    const stored = await this.store(senderId, input, draft, context.type === 'SECRET', place);
    if (!stored) {
      if (tries > 1) return this.sendChecked(senderId, input, place, tries - 1);
      throw new AppError('CHAT_NOT_FOUND');
    }
    return 'resent' in stored ? { message: stored.resent, resent: true } : { message: await this.publishSent(senderId, input, stored, place), resent: false };
  }

  /**
   * Stores with the next group commit (SendBatcher), admitting the frame once it is queued; a
   * clientMessageId that won a race in between resolves to the stored message.
   */
  private async store(senderId: string, input: SendMessageDto, draft: NewMessage, secret: boolean, place: FramePlace): Promise<BatchedMessage | { resent: MessageDto } | null> {
    try {
      const stored = this.batcher.store({ draft, secret });
      place.admitted();
      return await stored;
    } catch (error) {
      if (input.clientMessageId && isUniqueViolation(error, 'messages_client_id_key')) {
        const existing = await this.messages.findByClientId(senderId, input.clientMessageId);
        if (existing) return { resent: await this.views.buildOne(sameChat(existing, input), senderId) };
      }
      // The upload was deleted (its last other message went) between the media check and the insert.
      if (isForeignKeyViolation(error, 'messages_media_url_fkey')) throw new AppError('MEDIA_NOT_FOUND');
      throw error;
    }
  }

  /**
   * Publishes a stored message once the socket's earlier frames have been answered and the chat's
   * message before it (stored here) has been published: a chat's messages leave this instance in
   * their order, and a socket's answers in frame order.
   */
  private async publishSent(senderId: string, input: SendMessageDto, stored: BatchedMessage, place: FramePlace): Promise<MessageDto> {
    try {
      // Stored already: a read failing here (a pool timeout under load) is tried once more rather than answered as a failed send.
      const { dto, members } = await this.sentViews(senderId, stored)
        .catch(() => this.sentViews(senderId, stored))
        .catch((error: Error) => {
          // Failed twice: the sender is told to retry, and its retry is answered with the stored
          // message alone (a repeat), so the members and the sender's devices are told later.
          this.publishLater(senderId, input, stored);
          throw error;
        });
      await Promise.all([place.inTurn(), stored.previousPublished]);
      // The message is stored: a failure from here on is this instance's to log, not the sender's to retry.
      const publication = this.publish(senderId, input, stored, dto, members).catch((error: Error) => this.logger.warn(`message ${dto.id} not fully published: ${error.message}`));
      // A revealed chat's chat:new is read from the database before message:new goes out: the
      // chat's and the socket's next messages wait for this one then (once per chat and member).
      if (stored.revealedTo.length) await publication;
      return dto;
    } finally {
      stored.published();
    }
  }

  /**
   * Publishes a stored message whose views could not be built on the send path (the database
   * away right after the commit), tried again with backoff for about a minute. It may reach a
   * chat after later messages did (ChatOrderedDelivery lets a late seq through), and the sender's
   * devices may get its message:new twice (the retry's answer too): clients keep messages by id.
   */
  private publishLater(senderId: string, input: SendMessageDto, stored: StoredMessage): void {
    void (async () => {
      for (let attempt = 1; attempt <= PUBLISH_LATER_TRIES; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, Math.min(250 * 2 ** attempt, 15_000)).unref());
        try {
          const { dto, members } = await this.sentViews(senderId, stored);
          return await this.publish(senderId, input, stored, dto, members);
        } catch (error) {
          if (attempt === PUBLISH_LATER_TRIES) this.logger.warn(`message ${stored.message.id} stored but not published: ${(error as Error).message}`);
        }
      }
    })();
  }

  private async publish(senderId: string, input: SendMessageDto, stored: StoredMessage, dto: MessageDto, members: Array<{ userIds: string[]; payload: MessageDto }>): Promise<void> {
    if (stored.revealedTo.length) {
      // Best effort too: without chat:new the client fetches the chat on its message:new; without message:new nobody hears of it.
      await this.chats.publishChat(stored.revealedTo, input.chatId, 'chat:new').catch((error: Error) => this.logger.warn(`chat:new of a revealed chat not sent: ${error.message}`));
      // The chat now on their screen shows its members' presence: tell them its current state.
      // Best effort: the message is stored, and its publication below must not depend on this.
      await this.relations.started([{ viewers: stored.revealedTo, subjects: stored.memberIds }]).catch((error: Error) => this.logger.warn(`presence of a revealed chat not sent: ${error.message}`));
    }
    const others = stored.memberIds.filter((id) => id !== senderId);
    // One event for the members and the sender's devices, delivered in the chat's order on every
    // instance. message:delivered goes at the same position right behind it, without waiting for
    // its publication: the bus carries what is published in one turn as one Redis message, in order.
    const position = { chatId: dto.chatId, seq: dto.seq };
    const own = input.clientMessageId ? { ...dto, clientMessageId: input.clientMessageId } : dto;
    // The members see what the sender sees (one view: a direct chat, avatars for all): the sender's
    // copy is their frame with its clientMessageId, not a second serialisation.
    const shared = members.length === 1 && members[0].payload === dto ? encodeFrame('message:new', dto) : undefined;
    const audiences = shared ? [{ userIds: members[0].userIds, payload: dto, frame: shared }] : members;
    const ownFrame = shared && input.clientMessageId ? withLastKey(shared, 'clientMessageId', input.clientMessageId) : shared;
    const published = [this.realtime.toAudiences('message:new', [...audiences, { userIds: [senderId], payload: own, frame: ownFrame }], position)];
    // Web Push for members with no open socket: queued, never awaited, never failing the send.
    this.push.messageStored(dto.id);
    if (await this.presence.anyOnline(others)) {
      published.push(this.realtime.toUsers([senderId], 'message:delivered', { messageId: dto.id, chatId: dto.chatId }, position));
    }
    // The send cleared the sender's draft of the chat (in the insert statement): their other devices
    // drop it too, or take the one another device saved since (read again after telling).
    if (stored.draftCleared) published.push(this.chats.publishDraft(senderId, dto.chatId, { text: null, replyToId: null }));
    await Promise.all(published);
  }

  /**
   * The sent message as the sender sees it, and the other members' audiences of message:new: one
   * payload for all of them, unless the sender's showAvatar (or the reply preview's sender's) is
   * not `all`; then the members are split by the avatars they may see (avatar-privacy.ts), with
   * at most one more read (who among them are the sender's contacts).
   */
  private async sentViews(senderId: string, stored: StoredMessage): Promise<{ dto: MessageDto; members: Array<{ userIds: string[]; payload: MessageDto }> }> {
    const views = await this.views.buildFresh(stored.message, stored.memberIds, stored.sender);
    const dto = (views.find((view) => view.viewerIds.includes(senderId)) ?? views[0]).dto;
    return { dto, members: views.map((view) => ({ userIds: view.viewerIds.filter((id) => id !== senderId), payload: view.dto })) };
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
      return this.page(found.set, limit, found.watermarks, userId);
    }
    await this.countSearch(userId);
    const watermarks = await this.messages.chatWatermarks(chatId, userId);
    const own = watermarks.find((w) => w.userId === userId);
    if (!own || !own.visible) throw new AppError('CHAT_NOT_FOUND');
    const prefixQuery = own.chatType === 'SECRET' ? null : await this.messages.prefixQuery(query.q);
    if (!prefixQuery) return { messages: [], nextCursor: null };
    const found = await this.messages.searchInChat(chatId, userId, { before, limit: limit + 1, query: prefixQuery }, filters);
    return this.page(found, limit, watermarks, userId);
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
    return this.page(found.set, limit, found.watermarks, userId);
  }

  /** Search as you type over every non-secret chat the caller can see: every word of the term is a word prefix. */
  async search(userId: string, query: SearchQuery): Promise<MessagePageDto> {
    const limit = query.limit ?? 30;
    await this.countSearch(userId);
    const prefixQuery = await this.messages.prefixQuery(query.q);
    if (!prefixQuery) return { messages: [], nextCursor: null };
    const found = await this.messages.search(userId, prefixQuery, { before: query.cursor ?? null, limit: limit + 1 });
    const watermarks = await this.messages.watermarks([...new Set(found.messages.slice(0, limit).map((m) => m.chatId))], [userId]);
    return this.page(found, limit, watermarks, userId);
  }

  async shared(userId: string, chatId: string, query: { type?: MessageType; tab?: string; cursor?: string; limit?: number }): Promise<SharedPageDto> {
    await this.chats.requireMember(chatId, userId);
    const limit = query.limit ?? 30;
    const window = { before: query.cursor ?? null, limit: limit + 1 };
    // The Links tab: text messages holding a web address (the client finds the address in `text`).
    const links = !query.type && query.tab === 'links';
    const types: MessageType[] = query.type ? [query.type] : query.tab === 'media' ? ['IMAGE', 'VIDEO'] : query.tab === 'files' ? ['FILE'] : query.tab === 'voice' ? ['AUDIO'] : MEDIA_TYPES;
    const rows = links ? await this.messages.sharedLinks(chatId, userId, window) : await this.messages.sharedMedia(chatId, userId, types, window);
    const page = rows.slice(0, limit);
    const dtos = await this.views.build(page, userId);
    return {
      items: dtos.map((m) => ({ id: m.id, type: m.type, mediaUrl: m.mediaUrl, mediaName: m.mediaName, mediaSize: m.mediaSize, text: m.text, createdAt: m.createdAt, sender: m.sender })),
      nextCursor: rows.length > limit ? page[page.length - 1].id : null,
    };
  }

  async edit(userId: string, messageId: string, input: EditMessageDto): Promise<MessageDto> {
    const { message, membership } = await this.requireMessage(messageId, userId, 'message:edit');
    refuseSystem(message);
    if (message.senderId !== userId) throw new AppError('NOT_MESSAGE_AUTHOR');
    let changes: { text: string | null; ciphertext: string | null; signalType: number | null };
    if (membership.chat.type === 'SECRET') {
      // A secret chat's media message keeps its file's key in its ciphertext (§8.3), its caption in plaintext: neither is edited.
      if (message.type !== 'TEXT') throw invalid('type', 'only text messages can be edited in a secret chat');
      if (input.text !== undefined) throw new AppError('PLAINTEXT_IN_SECRET_CHAT');
      if (!input.ciphertext || input.signalType == null) throw new AppError('CIPHERTEXT_REQUIRED');
      changes = { text: null, ciphertext: input.ciphertext, signalType: input.signalType };
    } else {
      // A forward's text is the original's, shown as "Forwarded from …": editing it would put words in that sender's mouth.
      if (message.forwardedFromId !== null || message.forwardSenderName !== null) throw invalid('forwardedFromId', 'a forwarded message cannot be edited');
      if (input.ciphertext !== undefined || input.signalType !== undefined) throw invalid('ciphertext', 'ciphertext belongs to secret chats');
      // A media message's text is its caption (the client offers Edit on it): "" removes it, as sending none does.
      if (message.type !== 'TEXT' && input.text === undefined) throw invalid('text', 'text is required');
      changes = { text: message.type === 'TEXT' ? checkedText(input.text) : captionOf(input.text), ciphertext: null, signalType: null };
    }
    const updated = await this.asMember(message, userId, 'message:edit', async (tx) => {
      const stored = await this.messages.updateContent(messageId, changes, tx);
      if (!stored) throw new AppError('MESSAGE_NOT_FOUND');
      return stored;
    });
    // Members who hid the message do not get it back through its edit.
    const audience = await this.messages.audienceOf(message.chatId, messageId);
    const views = await this.views.buildForEach(updated, [...new Set([userId, ...audience])]);
    for (const view of views) await this.realtime.toUsers(view.viewerIds.filter((id) => audience.includes(id)), 'message:edited', view.dto);
    // Two edits at once (or an edit and a delete) tell theirs in no order between them: read
    // again, the text that won is told once more if it is not this one, and a message deleted
    // meanwhile is told deleted again (the change that commits last reads after both; see PresenceRelations).
    const now = await this.messages.findById(messageId);
    if (!now) {
      const lastId = await this.messages.lastMessageIdOf(message.chatId);
      if (lastId !== undefined) await this.announceDeleted(message.chatId, [messageId], lastId);
    } else if (now.text !== updated.text || now.ciphertext !== updated.ciphertext) {
      for (const view of await this.views.buildForEach(now, audience)) await this.realtime.toUsers(view.viewerIds, 'message:edited', view.dto);
    }
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
    const { message } = await this.requireMessage(messageId, userId, 'message:delete');
    const { lastId, removeFiles, unpinned } = await this.messages.transaction(async (tx) => {
      // Decided with the chat's row locked, as every group change is: a role changed or a member
      // removed meanwhile counts (§17), and the chat's last message is recomputed after any
      // other delete or send of the chat has committed.
      const membership = await this.chats.lockedMembership(message.chatId, userId, tx);
      if (!membership) throw new AppError('MESSAGE_NOT_FOUND');
      const senderRole = message.senderId && message.senderId !== userId && membership.chat.type === 'GROUP' ? await this.chats.roleOf(message.chatId, message.senderId, tx) : null;
      const refusal = decide('delete-message', membership.chat.type, { userId, role: membership.role }, { userId: message.senderId, role: senderRole, system: message.type === 'SYSTEM' });
      if (refusal) throw new AppError(refusal.code, refusal.message);
      const deleted = await this.messages.delete(tx, message);
      // Another delete of it committed first.
      if (!deleted) throw new AppError('MESSAGE_NOT_FOUND');
      return {
        lastId: deleted.lastMessageId,
        removeFiles: await this.media.release(tx, message.mediaUrl),
        unpinned: await this.chats.unpinMessage(tx, message.chatId, message.id),
      };
    });
    await removeFiles();
    // The pinned message is gone: every member's banner goes (§5.5, our rule).
    if (unpinned) await this.chats.announcePinned(message.chatId, null);
    await this.announceDeleted(message.chatId, [messageId], lastId);
  }

  /** Tells every member that the messages were deleted for everyone, with the chat's last message (`lastId`) as each of them sees it. */
  private async announceDeleted(chatId: string, messageIds: string[], lastId: string | null): Promise<void> {
    // Members who hid messages of the chat may see an older last message than the chat's own.
    const members = await this.chats.memberIds(chatId);
    const lastOf = new Map<string, string | null>(members.map((id) => [id, lastId]));
    for (const hider of await this.messages.lastVisibleOfHiders(chatId)) if (lastOf.has(hider.userId)) lastOf.set(hider.userId, hider.lastId);
    const lastMessages = new Map((await this.messages.findByIds([...new Set([...lastOf.values()].filter((id): id is string => !!id))])).map((m) => [m.id, m]));
    for (const [lastMessageId, viewerIds] of groupViewers(lastOf)) {
      const last = lastMessageId ? lastMessages.get(lastMessageId) : undefined;
      const views = last ? await this.views.buildForEach(last, viewerIds) : [{ viewerIds, dto: null }];
      for (const view of views) {
        for (const messageId of messageIds) await this.realtime.toUsers(view.viewerIds, 'message:deleted', { messageId, chatId, newLastMessage: view.dto });
      }
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
    if (result.system) refuseSystem({ type: 'SYSTEM' });
    if (result.created) {
      const last = await this.messages.lastVisible(result.chatId, userId);
      const newLastMessage = last ? await this.views.buildOne(last, userId) : null;
      await this.realtime.toUsers([userId], 'message:deleted', { messageId, chatId: result.chatId, newLastMessage });
    }
    return { messageId, hidden: true };
  }

  /**
   * Marks everything up to the message read for the caller: one watermark update. The reader's
   * own devices hear of it (so each clears the chat's unread), and the other members as far as
   * the reader's showReadReceipts allows.
   */
  async markRead(userId: string, messageId: string, chatId?: string): Promise<{ messageId: string; chatId: string; readAt: string | null }> {
    // No block check: the reader's own watermark moves, and readAudience keeps the receipt from across a block.
    const { message } = await this.requireMessage(messageId, userId, null);
    if (chatId && chatId !== message.chatId) throw new AppError('MESSAGE_NOT_FOUND');
    const readAt = await this.messages.markRead(message.chatId, userId, Number(message.seq));
    if (readAt) {
      const members = (await this.chats.memberIds(message.chatId)).filter((id) => id !== userId);
      const audience = await this.readAudience(userId, members);
      await this.realtime.toUsers([userId, ...audience], 'message:read', { messageId, chatId: message.chatId, readBy: userId, readAt: new Date(readAt).toISOString() });
    }
    return { messageId, chatId: message.chatId, readAt: readAt ? new Date(readAt).toISOString() : null };
  }

  /**
   * A voice message was played: its sender hears of it once per listener, while still a member of
   * the chat and as the listener's showReadReceipts allows (a listen is a receipt: readAudience).
   */
  async markListened(userId: string, messageId: string, chatId?: string): Promise<void> {
    const { message } = await this.requireMessage(messageId, userId, 'message:listened');
    if (chatId && chatId !== message.chatId) throw new AppError('MESSAGE_NOT_FOUND');
    if (message.type !== 'AUDIO') throw invalid('messageId', 'only voice messages can be listened to');
    if (message.senderId === userId) return;
    const first = await this.asMember(message, userId, 'message:listened', async (tx) => {
      const added = await this.messages.addListen(messageId, userId, tx);
      if (added === null) throw new AppError('MESSAGE_NOT_FOUND');
      return added;
    });
    if (!first) return;
    // A sender who left or was removed hears nothing more of the chat's members (their voiceListens stay in the history).
    const senderId = message.senderId;
    if (senderId && (await this.chats.roleOf(message.chatId, senderId)) !== null && (await this.readAudience(userId, [senderId])).length) {
      await this.realtime.toUsers([senderId], 'message:listened', { messageId, chatId: message.chatId, listenedBy: userId });
    }
  }

  async addReaction(userId: string, messageId: string, emoji: string): Promise<ReactionDto> {
    const { message } = await this.requireMessage(messageId, userId, 'reaction');
    refuseSystem(message);
    await this.countReaction(userId);
    const { reaction, created } = await this.asMember(message, userId, 'reaction', async (tx) => {
      const added = await this.messages.addReaction(messageId, userId, emoji, tx);
      if (!added) throw new AppError('MESSAGE_NOT_FOUND');
      return added;
    });
    const dto = toReactionDto(reaction);
    if (created) await this.publishReaction(message.chatId, messageId, userId, emoji, dto);
    return dto;
  }

  async removeReaction(userId: string, messageId: string, emoji: string): Promise<void> {
    const { message } = await this.requireMessage(messageId, userId, 'reaction');
    await this.countReaction(userId);
    const removed = await this.asMember(message, userId, 'reaction', (tx) => this.messages.removeReaction(messageId, userId, emoji, tx));
    if (removed) await this.publishReaction(message.chatId, messageId, userId, emoji, null);
  }

  /** Reactions added and removed count together (RATE_LIMIT_REACTIONS): each reaches the chat's members and their event logs. */
  private async countReaction(userId: string): Promise<void> {
    await this.limiter.require('reactions', userId, this.config.values.reactionLimit, 'Too many reactions');
  }

  /**
   * Tells the message's audience that the reaction was added (`added`) or removed (null), then,
   * read again, what it is now if that is not the same: an add and a remove of one reaction at
   * once (a double tap) tell theirs in no order between them, and the one that commits last
   * reads after both (see PresenceRelations).
   */
  private async publishReaction(chatId: string, messageId: string, userId: string, emoji: string, added: ReactionDto | null): Promise<void> {
    const tell = async (reaction: ReactionDto | null) => {
      const audience = await this.messages.audienceOf(chatId, messageId);
      if (reaction) await this.realtime.toUsers(audience, 'reaction:added', { reaction, chatId, messageId });
      else await this.realtime.toUsers(audience, 'reaction:removed', { messageId, userId, emoji, chatId });
    };
    await tell(added);
    const now = await this.messages.findReaction(messageId, userId, emoji);
    if (Boolean(now) !== Boolean(added)) await tell(now && toReactionDto(now));
  }

  /** Members who may learn that `readerId` read something: the rule that also cuts `readReceipts` (read-receipts.ts). */
  /**
   * Searches, in a chat and across chats, share one budget per user (RATE_LIMIT_SEARCH): the client
   * searches as the user types, and a search costs up to a few hundred ms of PostgreSQL on a long
   * history, where the address budget (RATE_LIMIT_API, per route) would let one user run ten a second.
   */
  private async countSearch(userId: string): Promise<void> {
    await this.limiter.require('search', userId, this.config.values.searchLimit, 'Too many searches');
  }

  private async readAudience(readerId: string, members: string[]): Promise<string[]> {
    if (!members.length) return [];
    const reader = await this.messages.receiptFacts(readerId, members);
    return members.filter((id) => receiptVisible(reader, id));
  }

  /** The message and the caller's membership of its chat: a visible member, whom no block refuses `action` there (null: none applies). */
  private async requireMessage(messageId: string, userId: string, action: RefusedInChat | null): Promise<{ message: MessageEntity; membership: Membership }> {
    const message = isUuid(messageId) ? await this.messages.findById(messageId) : null;
    if (!message) throw new AppError('MESSAGE_NOT_FOUND');
    let membership: Membership;
    try {
      membership = await this.chats.requireMember(message.chatId, userId);
    } catch {
      throw new AppError('MESSAGE_NOT_FOUND');
    }
    if (action) await this.blocks.requireInChat(action, userId, membership.chat);
    return { message, membership };
  }

  /**
   * Runs `write`, a change of `message` by `userId` that requireMessage allowed, in a transaction
   * holding the chat's row lock, as membership and role changes do (README): a removal that
   * committed after requireMessage looked is seen here (MESSAGE_NOT_FOUND, as the same request a
   * moment later answers), and one that comes later waits for this commit, so nothing of a
   * removed member's follows their removal. A block takes no chat lock (only the blocker's
   * `users` row, UsersRepository.block), so it is read again after the write, in the same
   * transaction: one committed before the write (or during it) is seen, and refuses it (BLOCKED,
   * the write rolled back); one committed after that read was made while this change was under
   * way, which either order answers. (A share lock of the pair's `users` rows would order the two
   * fully, but taken after the chat's it deadlocks with an account deletion, which holds its row
   * and then waits for its chats.) Whatever `write` finds gone it throws: nothing runs after a
   * failed statement.
   */
  private async asMember<T>(message: MessageEntity, userId: string, action: RefusedInChat, write: (tx: EntityManager) => Promise<T>): Promise<T> {
    return this.messages.transaction(async (tx) => {
      const membership = await this.chats.lockedMembership(message.chatId, userId, tx);
      if (!membership) throw new AppError('MESSAGE_NOT_FOUND');
      const result = await write(tx);
      await this.blocks.requireInChat(action, userId, membership.chat, tx);
      return result;
    });
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
    if (secret) {
      // The server relays ciphertext only. Media is an encrypted blob whose key is the ciphertext.
      if (!input.mediaUrl && (input.text ?? '') !== '') throw new AppError('PLAINTEXT_IN_SECRET_CHAT');
      if (!input.ciphertext || input.signalType === undefined || input.signalType === null) throw new AppError('CIPHERTEXT_REQUIRED');
      const sealed = { ciphertext: input.ciphertext, signalType: input.signalType };
      if (!input.mediaUrl) {
        // As in any chat: a media type without media would be listed, filtered and listened to as media.
        if (input.type && input.type !== 'TEXT') throw invalid('mediaUrl', `a ${input.type} message needs a mediaUrl`);
        return newMessage(senderId, chatId, input, { type: 'TEXT', text: null, mediaUrl: null, mediaName: null, mediaSize: null }, sealed);
      }
      return newMessage(senderId, chatId, input, await this.encryptedMedia(senderId, input, input.mediaUrl), sealed);
    }
    if (input.ciphertext || input.signalType !== undefined && input.signalType !== null) throw invalid('ciphertext', 'ciphertext belongs to secret chats');
    if (!input.mediaUrl) {
      if (input.type && input.type !== 'TEXT') throw invalid('mediaUrl', `a ${input.type} message needs a mediaUrl`);
      return newMessage(senderId, chatId, input, { type: 'TEXT', text: checkedText(input.text), mediaUrl: null, mediaName: null, mediaSize: null }, PLAIN);
    }
    const media = await this.media.resolve(senderId, input.mediaUrl);
    const caption = captionOf(input.text);
    // The upload's bytes decide the type (the web client relies on it: audio/webm is AUDIO).
    return newMessage(senderId, chatId, input, { type: media.type, text: caption, mediaUrl: media.url, mediaName: (input.mediaName != null && fileNameOf(input.mediaName)) || media.name, mediaSize: media.size }, PLAIN);
  }

  /**
   * Encrypted media in a secret chat (§8.3): the sender's own `.enc` upload, of the type the
   * frame names (the server cannot see the bytes, so it takes the client's word), with the
   * plaintext caption, file name and size the client shows (the size of the file before it
   * was encrypted, as the client sends it; the blob's own size otherwise).
   */
  private async encryptedMedia(senderId: string, input: SendMessageDto, mediaUrl: string): Promise<MessageContent> {
    if (!input.type || input.type === 'TEXT') throw invalid('type', 'encrypted media needs its type: IMAGE, VIDEO, AUDIO or FILE');
    const blob = await this.media.resolveEncrypted(senderId, mediaUrl);
    return {
      type: input.type,
      text: captionOf(input.text),
      mediaUrl: blob.url,
      mediaName: (input.mediaName != null && fileNameOf(input.mediaName)) || blob.name,
      mediaSize: input.mediaSize ?? blob.size,
    };
  }

  /** The first `limit` messages of a set read with one more (whose presence says whether there is a next page). */
  private page(set: MessageSet, limit: number, watermarks: WatermarkRow[], viewerId: string): MessagePageDto {
    const page = set.messages.slice(0, limit);
    return { messages: this.views.buildSet({ ...set, messages: page }, watermarks, viewerId), nextCursor: set.messages.length > limit ? page[page.length - 1].id : null };
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

/**
 * The message a clientMessageId names, when the frame is a retry of it (the same chat). Reused in
 * another chat it is no retry: answering with that message would show the chat's current state
 * to a sender who may have left it, and drop the new text unsaid.
 */
function sameChat(existing: MessageEntity, input: SendMessageDto): MessageEntity {
  if (existing.chatId !== input.chatId) throw invalid('clientMessageId', 'clientMessageId was used for a message in another chat: make a new one for each message');
  return existing;
}

/** Group events (SYSTEM messages) are records: nobody edits, reacts to, hides or deletes them. */
function refuseSystem(message: Pick<MessageEntity, 'type'>): void {
  if (message.type === 'SYSTEM') throw new AppError('FORBIDDEN', 'Group events cannot be changed');
}

type MessageContent = Pick<NewMessage, 'type' | 'text' | 'mediaUrl' | 'mediaName' | 'mediaSize'>;
type MessageSeal = Pick<NewMessage, 'ciphertext' | 'signalType'>;
const PLAIN: MessageSeal = { ciphertext: null, signalType: null };

/**
 * The row to store of a new (not forwarded) message, written out in one literal: every send
 * makes one, and V8 (Node 20) spends ~1 KB more on an object spread and then extended
 * (`{...base, type, text}`) than on the same object written out.
 */
function newMessage(senderId: string, chatId: string, input: SendMessageDto, content: MessageContent, seal: MessageSeal): NewMessage {
  return {
    chatId,
    senderId,
    type: content.type,
    text: content.text,
    mediaUrl: content.mediaUrl,
    mediaName: content.mediaName,
    mediaSize: content.mediaSize,
    mediaGroupId: input.mediaGroupId ?? null,
    replyToId: input.replyToId ?? null,
    forwardedFromId: null,
    forwardSenderName: null,
    ciphertext: seal.ciphertext,
    signalType: seal.signalType,
    clientMessageId: input.clientMessageId ?? null,
  };
}

function checkedText(text: string | null | undefined): string {
  const trimmed = (text ?? '').trim();
  if (!trimmed) throw invalid('text', 'text must not be empty');
  if (!atMostCodePoints(trimmed, MAX_TEXT)) throw invalid('text', `text must be at most ${MAX_TEXT} characters`);
  return trimmed;
}

/** A media message's caption: none when blank, else checked as a text is. */
function captionOf(text: string | null | undefined): string | null {
  return text?.trim() ? checkedText(text) : null;
}

function invalid(field: string, message: string): AppError {
  return new AppError('VALIDATION_ERROR', message, { errors: { [field]: [message] } });
}
