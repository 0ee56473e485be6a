import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity('reactions')
export class ReactionEntity {
  @PrimaryColumn('uuid') id: string;
  @Column('uuid', { name: 'message_id' }) messageId: string;
  @Column('uuid', { name: 'user_id' }) userId: string;
  @Column('text') emoji: string;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
}
