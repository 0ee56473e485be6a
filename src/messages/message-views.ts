import { Injectable } from '@nestjs/common';
import { MessageEntity } from './entities/message.entity';
import { ReactionEntity } from './entities/reaction.entity';
import { MessageDto, MessageSenderDto, ReactionDto, ReplyPreviewDto } from './dto/message.dto';
import { receiptVisible } from '../users/read-receipts';
import { MessagesRepository, RichMessageRow, SenderRow, WatermarkRow } from './messages.repository';

const toSender = (row: SenderRow | undefined): MessageSenderDto | null =>
  row ? { id: row.id, nickname: row.nickname, firstName: row.firstName, lastName: row.lastName, avatar: row.avatar } : null;

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
 * only where the reader's privacy allows: read-receipts.ts) and voice listens — a fixed number
 * of queries per page, whatever its size.
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
   * One message as each of `viewerIds` sees it, for an event to all of them: read receipts may
   * differ by viewer, so viewers are grouped by the view they get, one DTO per group (one for
   * the whole chat when every reader shows their receipts to everyone).
   */
  async buildForEach(message: MessageEntity, viewerIds: string[]): Promise<Array<{ viewerIds: string[]; dto: MessageDto }>> {
    const shape = await this.load([message], viewerIds);
    const groups = new Map<string, { viewerIds: string[]; dto: MessageDto }>();
    for (const viewerId of viewerIds) {
      const dto = shape(message, viewerId);
      const key = dto.readReceipts.map((r) => r.userId).join(',');
      const group = groups.get(key);
      if (group) group.viewerIds.push(viewerId);
      else groups.set(key, { viewerIds: [viewerId], dto });
    }
    return [...groups.values()];
  }

  /** Reads what the messages' DTOs need, for these viewers, in a fixed number of queries; resolves the shaper. */
  private async load(messages: MessageEntity[], viewerIds: string[]): Promise<(m: MessageEntity, viewerId: string) => MessageDto> {
    const ids = messages.map((m) => m.id);
    const replyIds = [...new Set(messages.map((m) => m.replyToId).filter((id): id is string => !!id))];
    const replies = await this.messages.findByIds(replyIds);
    const senderIds = new Set([...messages, ...replies].map((m) => m.senderId).filter((id): id is string => !!id));
    const [senders, reactions, listens, watermarks] = await Promise.all([
      this.messages.senders([...senderIds]),
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
        sender: toSender(m.senderId ? senderById.get(m.senderId) : undefined),
        replyTo: m.replyToId ? this.reply(m.replyToId, replyById.get(m.replyToId), senderById) : null,
        reactions: (reactionsBy.get(m.id) ?? []).map((r) => toReactionDto(r, r.nickname)),
        watermarks: (watermarksBy.get(m.chatId) ?? []).filter((w) => receiptVisible(w, viewerId)),
        listens: listensBy.get(m.id),
      });
  }

  /**
   * Messages read with their sender, reply preview, reactions and listens (RichMessageRow), as
   * `viewerId` sees them: no query here. `watermarks` are the read watermarks of the members of
   * their chats, with the receipt facts towards the viewer.
   */
  buildRich(rows: RichMessageRow[], watermarks: WatermarkRow[], viewerId: string): MessageDto[] {
    const watermarksBy = groupBy(watermarks.filter((w) => receiptVisible(w, viewerId)), (w) => w.chatId);
    return rows.map((m) =>
      this.shape(m, {
        sender: toSender(m.senderRow ?? undefined),
        replyTo: m.replyToId ? this.replyPreview(m.replyToId, m.replyRow) : null,
        reactions: m.reactionRows.map((r) => toReactionDto(r, r.nickname)),
        watermarks: watermarksBy.get(m.chatId) ?? [],
        // As in build(): a stored voice message lists its listens only once there is one.
        listens: m.listenRows?.length ? m.listenRows : undefined,
      }),
    );
  }

  /**
   * A message that was just stored: nobody has read, reacted to or listened to it yet. With its
   * sender's row at hand (the insert returns it), a message without a reply needs no query.
   */
  async buildFresh(message: MessageEntity, sender?: SenderRow | null): Promise<MessageDto> {
    const reply = message.replyToId ? (await this.messages.findByIds([message.replyToId]))[0] : undefined;
    const wanted = [sender === undefined ? message.senderId : null, reply?.senderId].filter((id): id is string => !!id);
    const senders = wanted.length ? await this.messages.senders(wanted) : [];
    const senderById = new Map(senders.map((s) => [s.id, s]));
    if (sender) senderById.set(sender.id, sender);
    return this.shape(message, {
      sender: toSender(message.senderId ? senderById.get(message.senderId) : undefined),
      replyTo: message.replyToId ? this.reply(message.replyToId, reply, senderById) : null,
      reactions: [],
      watermarks: [],
      listens: message.type === 'AUDIO' ? [] : undefined,
    });
  }

  /** `watermarks`: those of the message's chat members whose receipts the viewer may see. */
  private shape(
    m: MessageEntity,
    extra: { sender: MessageSenderDto | null; replyTo: ReplyPreviewDto | null; reactions: ReactionDto[]; watermarks: WatermarkRow[]; listens?: Array<{ userId: string }> },
  ): MessageDto {
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
      createdAt: new Date(m.createdAt).toISOString(),
      updatedAt: new Date(m.updatedAt).toISOString(),
      readReceipts: extra.watermarks
        .filter((w) => w.userId !== m.senderId && w.lastReadSeq >= Number(m.seq) && w.lastReadAt)
        .map((w) => ({ userId: w.userId, readAt: new Date(w.lastReadAt!).toISOString() })),
      reactions: extra.reactions,
      ciphertext: m.ciphertext,
      signalType: m.signalType,
      mediaGroupId: m.mediaGroupId,
      ...(extra.listens ? { voiceListens: extra.listens.map((l) => ({ userId: l.userId })) } : {}),
    };
  }

  private replyPreview(id: string, original: RichMessageRow['replyRow']): ReplyPreviewDto {
    if (!original) return { id, text: null, sender: null, isDeleted: true };
    return { id, text: original.text, sender: toSender(original.sender ?? undefined), isDeleted: false };
  }

  /** A deleted original still yields a preview, marked deleted, so the reply keeps its context. */
  private reply(id: string, original: MessageEntity | undefined, senders: Map<string, SenderRow>): ReplyPreviewDto {
    if (!original) return { id, text: null, sender: null, isDeleted: true };
    return { id, text: original.text, sender: toSender(original.senderId ? senders.get(original.senderId) : undefined), isDeleted: false };
  }
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
