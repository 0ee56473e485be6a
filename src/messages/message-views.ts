import { Injectable } from '@nestjs/common';
import { MessageEntity } from './entities/message.entity';
import { ReactionEntity } from './entities/reaction.entity';
import { MessageDto, MessageSenderDto, ReactionDto, ReplyPreviewDto } from './dto/message.dto';
import { avatarRestricted, avatarRuleLacksContacts, avatarSeenBy } from '../users/avatar-privacy';
import { receiptVisible } from '../users/read-receipts';
import { isoFromJson } from '../core/database/pg-timestamps';
import type { MessageSet } from './message-set';
import { hideKey, MessagesRepository, SenderRow, WatermarkRow } from './messages.repository';

/** A sender as `viewerId` sees them: the avatar as the sender's showAvatar allows (avatar-privacy.ts). */
const toSender = (row: SenderRow | null | undefined, viewerId: string): MessageSenderDto | null =>
  row ? { id: row.id, nickname: row.nickname, firstName: row.firstName, lastName: row.lastName, avatar: avatarSeenBy(row, viewerId) } : null;

/** One DTO per group of viewers who see a message alike: its read receipts and voice listens, and the avatars of its sender and reply preview's sender. */
function groupedByView(viewerIds: string[], shape: (viewerId: string) => MessageDto): Array<{ viewerIds: string[]; dto: MessageDto }> {
  const groups = new Map<string, { viewerIds: string[]; dto: MessageDto }>();
  for (const viewerId of viewerIds) {
    const dto = shape(viewerId);
    const key = `${dto.readReceipts.map((r) => r.userId).join(',')}|${dto.voiceListens?.map((l) => l.userId).join(',') ?? ''}|${dto.sender?.avatar ? 1 : 0}|${dto.replyTo?.sender?.avatar ? 1 : 0}|${dto.replyTo?.isDeleted ? 1 : 0}`;
    const group = groups.get(key);
    if (group) group.viewerIds.push(viewerId);
    else groups.set(key, { viewerIds: [viewerId], dto });
  }
  return [...groups.values()];
}

export const toReactionDto = (r: Pick<ReactionEntity, 'id' | 'messageId' | 'userId' | 'emoji'>, nickname?: string): ReactionDto => ({
  id: r.id,
  messageId: r.messageId,
  userId: r.userId,
  emoji: r.emoji,
  ...(nickname ? { user: { nickname } } : {}),
});

/**
 * Shapes stored messages into the wire contract's Message as one viewer sees them: sender,
 * reply preview, reactions, read receipts (derived from the members' read watermarks, each shown
 * only where the reader's privacy allows: read-receipts.ts) and voice listens (by the same rule) — a fixed number
 * of queries per page, whatever its size. Senders' avatars (the message's and the reply
 * preview's) appear as each sender's showAvatar lets the viewer see them (avatar-privacy.ts).
 */
@Injectable()
export class MessageViews {
  constructor(private readonly messages: MessagesRepository) {}

  /** The messages as `viewerId` sees them. */
  async build(messages: MessageEntity[], viewerId: string): Promise<MessageDto[]> {
    if (!messages.length) return [];
    const shape = await this.load(messages, [viewerId]);
    return messages.map((m) => shape(m, viewerId));
  }

  async buildOne(message: MessageEntity, viewerId: string): Promise<MessageDto> {
    return (await this.build([message], viewerId))[0];
  }

  /**
   * One message as each of `viewerIds` sees it, for an event to all of them: read receipts and
   * senders' avatars may differ by viewer, so viewers are grouped by the view they get, one DTO
   * per group (one for the whole chat when every reader shows their receipts, and every sender
   * their avatar, to everyone).
   */
  async buildForEach(message: MessageEntity, viewerIds: string[]): Promise<Array<{ viewerIds: string[]; dto: MessageDto }>> {
    const shape = await this.load([message], viewerIds);
    return groupedByView(viewerIds, (viewerId) => shape(message, viewerId));
  }

  /** Reads what the messages' DTOs need, for these viewers, in a fixed number of queries; resolves the shaper. */
  private async load(messages: MessageEntity[], viewerIds: string[]): Promise<(m: MessageEntity, viewerId: string) => MessageDto> {
    const ids = messages.map((m) => m.id);
    const replyIds = [...new Set(messages.map((m) => m.replyToId).filter((id): id is string => !!id))];
    const [replies, hides] = await Promise.all([this.messages.findByIds(replyIds), this.messages.hidesOf(replyIds)]);
    const senderIds = new Set([...messages, ...replies].map((m) => m.senderId).filter((id): id is string => !!id));
    const [senders, reactions, listens, watermarks] = await Promise.all([
      this.messages.senders([...senderIds], viewerIds),
      this.messages.reactionsOf(ids),
      this.messages.listensOf(messages.filter((m) => m.type === 'AUDIO').map((m) => m.id)),
      this.messages.watermarks([...new Set(messages.map((m) => m.chatId))], viewerIds),
    ]);
    const senderById = new Map(senders.map((s) => [s.id, s]));
    const replyById = new Map(replies.map((r) => [r.id, r]));
    const reactionsBy = groupBy(reactions, (r) => r.messageId);
    const listensBy = groupBy(listens, (l) => l.messageId);
    const watermarksBy = groupBy(watermarks, (w) => w.chatId);
    return (m, viewerId) =>
      this.shape(m, {
        sender: toSender(m.senderId ? senderById.get(m.senderId) : undefined, viewerId),
        replyTo: m.replyToId ? this.reply(m.replyToId, hides.has(hideKey(m.replyToId, viewerId)) ? undefined : replyById.get(m.replyToId), senderById, viewerId) : null,
        reactions: (reactionsBy.get(m.id) ?? []).map((r) => toReactionDto(r, r.nickname)),
        watermarks: (watermarksBy.get(m.chatId) ?? []).filter((w) => receiptVisible(w, viewerId)),
        listens: listensBy.get(m.id),
        viewerId,
      });
  }

  /**
   * The messages of a set (message-set.ts), read with their senders, reply previews, reactions
   * and listens, as `viewerId` sees them: no query here. `watermarks` are the read watermarks of
   * the members of their chats, with the receipt facts towards the viewer.
   */
  buildSet(set: MessageSet, watermarks: WatermarkRow[], viewerId: string): MessageDto[] {
    const watermarksBy = groupBy(watermarks.filter((w) => receiptVisible(w, viewerId)), (w) => w.chatId);
    return set.messages.map((m) =>
      this.shape(m, {
        sender: toSender(m.senderId === null ? undefined : set.senders.get(m.senderId), viewerId),
        replyTo: m.replyToId ? this.reply(m.replyToId, m.reply ?? undefined, set.senders, viewerId) : null,
        reactions: (set.reactions.get(m.id) ?? []).map((r) => toReactionDto(r, r.nickname)),
        watermarks: watermarksBy.get(m.chatId) ?? [],
        // As in build(): a stored voice message lists its listens only once there is one.
        listens: set.listens.get(m.id),
        viewerId,
      }),
    );
  }

  /**
   * A message that was just stored, as each of `viewerIds` sees it (grouped as buildForEach
   * groups them): nobody has read, reacted to or listened to it yet. With its sender's row at
   * hand (the insert returns it with their showAvatar), a message without a reply needs no
   * query, unless the sender shows their avatar to their contacts only: then one read learns
   * which viewers those are. Every viewer gets the one DTO unless an avatar in it is restricted.
   */
  async buildFresh(message: MessageEntity, viewerIds: string[], sender?: SenderRow | null): Promise<Array<{ viewerIds: string[]; dto: MessageDto }>> {
    const [[reply], hides] = message.replyToId
      ? await Promise.all([this.messages.findByIds([message.replyToId]), this.messages.hidesOf([message.replyToId])])
      : [[undefined], new Set<string>()];
    const known = sender !== undefined && !avatarRuleLacksContacts(sender);
    const wanted = [known ? null : message.senderId, reply?.senderId].filter((id): id is string => !!id);
    const senders = wanted.length ? await this.messages.senders(wanted, viewerIds) : [];
    const senderById = new Map(senders.map((s) => [s.id, s]));
    if (sender && known) senderById.set(sender.id, sender);
    const own = message.senderId ? senderById.get(message.senderId) : undefined;
    const shape = (viewerId: string): MessageDto =>
      this.shape(message, {
        sender: toSender(own, viewerId),
        replyTo: message.replyToId ? this.reply(message.replyToId, hides.has(hideKey(message.replyToId, viewerId)) ? undefined : reply, senderById, viewerId) : null,
        reactions: [],
        watermarks: [],
        listens: message.type === 'AUDIO' ? [] : undefined,
        viewerId,
      });
    const quoted = reply?.senderId ? senderById.get(reply.senderId) : undefined;
    if (!viewerIds.length) return [];
    if (!avatarRestricted(own) && !avatarRestricted(quoted) && !hides.size) return [{ viewerIds, dto: shape(viewerIds[0]) }];
    return groupedByView(viewerIds, shape);
  }

  /** `watermarks`: those of the message's chat members whose receipts the viewer (`viewerId`) may see. */
  private shape(
    m: Omit<MessageEntity, 'clientMessageId' | 'createdAt' | 'updatedAt'> & { createdAt: Date | string; updatedAt: Date | string },
    extra: { sender: MessageSenderDto | null; replyTo: ReplyPreviewDto | null; reactions: ReactionDto[]; watermarks: WatermarkRow[]; listens?: Array<{ userId: string }>; viewerId: string },
  ): MessageDto {
    const createdAt = isoOf(m.createdAt);
    return {
      id: m.id,
      chatId: m.chatId,
      seq: Number(m.seq),
      sender: extra.sender,
      text: m.text,
      type: m.type,
      mediaUrl: m.mediaUrl,
      mediaName: m.mediaName,
      mediaSize: m.mediaSize === null ? null : Number(m.mediaSize),
      isDeleted: false,
      isEdited: m.isEdited,
      replyToId: m.replyToId,
      replyTo: extra.replyTo,
      forwardedFromId: m.forwardedFromId,
      forwardSenderName: m.forwardSenderName,
      createdAt,
      // A message of a set carries one text for both when it was never edited.
      updatedAt: m.updatedAt === m.createdAt ? createdAt : isoOf(m.updatedAt),
      readReceipts: extra.watermarks
        .filter((w) => w.userId !== m.senderId && w.lastReadSeq >= Number(m.seq) && w.lastReadAt)
        .map((w) => ({ userId: w.userId, readAt: isoOf(w.lastReadAt!) })),
      reactions: extra.reactions,
      ciphertext: m.ciphertext,
      signalType: m.signalType,
      mediaGroupId: m.mediaGroupId,
      // Absent from the JSON (undefined), but a key of every DTO: the sender's copy on message:new,
      // `{...dto, clientMessageId}`, then keeps the DTO's shape (adding a key to a spread copy
      // costs V8 ~1 KB per message).
      clientMessageId: undefined,
      ...(extra.listens ? { voiceListens: listensSeen(extra.listens, extra.watermarks, extra.viewerId) } : {}),
    };
  }

  /**
   * A deleted original still yields a preview, marked deleted, so the reply keeps its context; so
   * does one the viewer hid (passed as undefined), which is absent from everything they get (§7.2).
   */
  private reply(id: string, original: Pick<MessageEntity, 'text' | 'senderId'> | undefined, senders: Map<string, SenderRow>, viewerId: string): ReplyPreviewDto {
    if (!original) return { id, text: null, sender: null, isDeleted: true };
    return { id, text: original.text, sender: toSender(original.senderId ? senders.get(original.senderId) : undefined, viewerId), isDeleted: false };
  }
}

/**
 * The listens a viewer may see: a listen tells more than a read receipt, so it follows the same
 * rule (read-receipts.ts) — those of the members whose receipts reach the viewer (`watermarks`,
 * already chosen for the viewer) and the viewer's own, and no one else's: not across a block,
 * not past a listener's showReadReceipts, not of a listener who has left the chat.
 */
function listensSeen(listens: Array<{ userId: string }>, watermarks: WatermarkRow[], viewerId: string): Array<{ userId: string }> {
  if (!listens.length) return [];
  const readers = new Set(watermarks.map((w) => w.userId));
  return listens.filter((l) => l.userId === viewerId || readers.has(l.userId)).map((l) => ({ userId: l.userId }));
}

/** A timestamp of a row (a Date) or of a JSON value (text) in the wire's ISO form. */
function isoOf(value: Date | string): string {
  return typeof value === 'string' ? isoFromJson(value) : value.toISOString();
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = map.get(k);
    if (list) list.push(item);
    else map.set(k, [item]);
  }
  return map;
}
