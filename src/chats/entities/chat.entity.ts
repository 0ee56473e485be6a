import { Column, Entity, PrimaryColumn } from 'typeorm';

/** SELF: the user's saved messages, one per user, with the user as its only member. */
export type ChatType = 'DIRECT' | 'GROUP' | 'SECRET' | 'SELF';

@Entity('chats')
export class ChatEntity {
  @PrimaryColumn('uuid') id: string;
  @Column('text') type: ChatType;
  @Column('text', { nullable: true }) name: string | null;
  @Column('text', { nullable: true }) avatar: string | null;
  /** `<type>:<smaller id>:<larger id>` for DIRECT/SECRET, `SELF:<owner id>` for SELF: one chat per pair (per owner), by a unique index. */
  @Column('text', { name: 'pair_key', nullable: true }) pairKey: string | null;
  /** The integer the client's group links use (`/chat/-<numericId>`); assigned by the database. */
  @Column({ type: 'bigint', name: 'numeric_id', insert: false, update: false, transformer: { from: Number, to: (v: number) => v } }) numericId: number;
  @Column('text', { nullable: true }) description: string | null;
  @Column('uuid', { name: 'pinned_message_id', nullable: true }) pinnedMessageId: string | null;
  /** High-water mark of the chat's message sequence; unread = messageSeq - member.lastReadSeq - deleted seqs past it. */
  @Column('bigint', { name: 'message_seq', transformer: { from: Number, to: (v: number) => v } }) messageSeq: number;
  @Column('uuid', { name: 'last_message_id', nullable: true }) lastMessageId: string | null;
  @Column('timestamptz', { name: 'last_activity_at' }) lastActivityAt: Date;
  /** Moves with every change of the chat's members (ChatsRepository.removeMember, addMembers): a group commit writes a chat only at the epoch it read. */
  @Column('int', { name: 'member_epoch', default: 0 }) memberEpoch: number;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt: Date;
}
