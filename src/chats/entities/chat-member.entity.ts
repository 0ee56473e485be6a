import { Column, Entity, PrimaryColumn } from 'typeorm';

export type ChatRole = 'OWNER' | 'ADMIN' | 'MEMBER';

@Entity('chat_members')
export class ChatMemberEntity {
  @PrimaryColumn('uuid', { name: 'chat_id' }) chatId: string;
  @PrimaryColumn('uuid', { name: 'user_id' }) userId: string;
  @Column('uuid') id: string;
  @Column('text') role: ChatRole;
  @Column('timestamptz', { name: 'joined_at' }) joinedAt: Date;
  /** False for the target of a direct chat until the first message arrives. */
  @Column('boolean') visible: boolean;
  /** Per-member chat state (wire-contract-v2.2 §3): each member pins, mutes and archives for themselves. */
  @Column('timestamptz', { name: 'pinned_at', nullable: true }) pinnedAt: Date | null;
  @Column('timestamptz', { name: 'muted_until', nullable: true }) mutedUntil: Date | null;
  @Column('timestamptz', { name: 'archived_at', nullable: true }) archivedAt: Date | null;
  /** The member's unsent text (§4); never set in a SECRET chat. Cleared by the member's next message. */
  @Column('text', { name: 'draft_text', nullable: true }) draftText: string | null;
  @Column('uuid', { name: 'draft_reply_to_id', nullable: true }) draftReplyToId: string | null;
  @Column('timestamptz', { name: 'draft_updated_at', nullable: true }) draftUpdatedAt: Date | null;
  @Column('bigint', { name: 'last_read_seq', transformer: { from: Number, to: (v: number) => v } }) lastReadSeq: number;
  @Column('timestamptz', { name: 'last_read_at', nullable: true }) lastReadAt: Date | null;
}
