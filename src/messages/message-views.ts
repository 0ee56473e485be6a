import { Injectable } from '@nestjs/common';
import { MessageEntity } from './entities/message.entity';
import { ReactionEntity } from './entities/reaction.entity';
import { MessageDto, MessageSenderDto, ReactionDto, ReplyPreviewDto } from './dto/message.dto';
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
 * Shapes stored messages into the wire contract's Message: sender, reply preview, reactions,
 * read receipts (derived from the members' read watermarks) and voice listens — a fixed number
 * of queries per page, whatever its size.
 */
@Injectable()
export class MessageViews {
  constructor(private readonly messages: MessagesRepository) {}

  async build(messages: MessageEntity[]): Promise<MessageDto[]> {
    if (!messages.length) return [];
    const ids = messages.map((m) => m.id);
    const replyIds = [...new Set(messages.map((m) => m.replyToId).filter((id): id is string => !!id))];
    const replies = await this.messages.findByIds(replyIds);
    const senderIds = new Set([...messages, ...replies].map((m) => m.senderId).filter((id): id is string => !!id));
    const [senders, reactions, listens, watermarks] = await Promise.all([
      this.messages.senders([...senderIds]),
      this.messages.reactionsOf(ids),
      this.messages.listensOf(messages.filter((m) => m.type === 'AUDIO').map((m) => m.id)),
      this.messages.watermarks([...new Set(messages.map((m) => m.chatId))]),
    ]);
    const senderById = new Map(senders.map((s) => [s.id, s]));
    const replyById = new Map(replies.map((r) => [r.id, r]));
    const reactionsBy = groupBy(reactions, (r) => r.messageId);
    const listensBy = groupBy(listens, (l) => l.messageId);
    const watermarksBy = groupBy(watermarks, (w) => w.chatId);
    return messages.map((m) =>
      this.shape(m, {
        sender: toSender(m.senderId ? senderById.get(m.senderId) : undefined),
        replyTo: m.replyToId ? this.reply(m.replyToId, replyById.get(m.replyToId), senderById) : null,
        reactions: (reactionsBy.get(m.id) ?? []).map((r) => toReactionDto(r, r.nickname)),
        watermarks: watermarksBy.get(m.chatId) ?? [],
        listens: listensBy.get(m.id),
      }),
    );
  }

  /**
   * Messages read with their sender, reply preview, reactions and listens (RichMessageRow):
   * no query here. `watermarks` are the read watermarks of the members of their chats.
   */
  buildRich(rows: RichMessageRow[], watermarks: WatermarkRow[]): MessageDto[] {
    const watermarksBy = groupBy(watermarks, (w) => w.chatId);
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

  async buildOne(message: MessageEntity): Promise<MessageDto> {
    return (await this.build([message]))[0];
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
