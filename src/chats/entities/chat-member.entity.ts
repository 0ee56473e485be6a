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
  @Column('boolean') archived: boolean;
  @Column('bigint', { name: 'last_read_seq', transformer: { from: Number, to: (v: number) => v } }) lastReadSeq: number;
  @Column('timestamptz', { name: 'last_read_at', nullable: true }) lastReadAt: Date | null;
}
