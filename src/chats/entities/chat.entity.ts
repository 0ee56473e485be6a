import { Column, Entity, PrimaryColumn } from 'typeorm';

export type ChatType = 'DIRECT' | 'GROUP' | 'SECRET';

@Entity('chats')
export class ChatEntity {
  @PrimaryColumn('uuid') id: string;
  @Column('text') type: ChatType;
  @Column('text', { nullable: true }) name: string | null;
  @Column('text', { nullable: true }) avatar: string | null;
  /** `<type>:<smaller id>:<larger id>` for DIRECT/SECRET: one chat per pair, by a unique index. */
  @Column('text', { name: 'pair_key', nullable: true }) pairKey: string | null;
  /** High-water mark of the chat's message sequence; unread = messageSeq - member.lastReadSeq - deleted seqs past it. */
  @Column('bigint', { name: 'message_seq', transformer: { from: Number, to: (v: number) => v } }) messageSeq: number;
  @Column('uuid', { name: 'last_message_id', nullable: true }) lastMessageId: string | null;
  @Column('timestamptz', { name: 'last_activity_at' }) lastActivityAt: Date;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt: Date;
}
