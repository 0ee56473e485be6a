import { Column, Entity, PrimaryColumn } from 'typeorm';

export type MessageType = 'TEXT' | 'IMAGE' | 'FILE' | 'AUDIO' | 'VIDEO' | 'SYSTEM';
export const MEDIA_TYPES: MessageType[] = ['IMAGE', 'FILE', 'AUDIO', 'VIDEO'];

@Entity('messages')
export class MessageEntity {
  @PrimaryColumn('uuid') id: string;
  @Column('uuid', { name: 'chat_id' }) chatId: string;
  @Column('uuid', { name: 'sender_id', nullable: true }) senderId: string | null;
  /** Position in the chat (1, 2, …); read watermarks compare against it. */
  @Column('bigint', { transformer: { from: Number, to: (v: number) => v } }) seq: number;
  @Column('text') type: MessageType;
  @Column('text', { nullable: true }) text: string | null;
  @Column('text', { name: 'media_url', nullable: true }) mediaUrl: string | null;
  @Column('text', { name: 'media_name', nullable: true }) mediaName: string | null;
  @Column('bigint', { name: 'media_size', nullable: true, transformer: { from: (v: string | null) => (v === null ? null : Number(v)), to: (v: number | null) => v } }) mediaSize: number | null;
  @Column('text', { name: 'media_group_id', nullable: true }) mediaGroupId: string | null;
  @Column('uuid', { name: 'reply_to_id', nullable: true }) replyToId: string | null;
  @Column('uuid', { name: 'forwarded_from_id', nullable: true }) forwardedFromId: string | null;
  @Column('text', { name: 'forward_sender_name', nullable: true }) forwardSenderName: string | null;
  @Column('text', { nullable: true }) ciphertext: string | null;
  @Column('int', { name: 'signal_type', nullable: true }) signalType: number | null;
  @Column('text', { name: 'client_message_id', nullable: true }) clientMessageId: string | null;
  @Column('boolean', { name: 'is_edited' }) isEdited: boolean;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
  @Column('timestamptz', { name: 'updated_at' }) updatedAt: Date;
}
