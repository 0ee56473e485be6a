import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A one-time prekey: waiting to be handed out, or handed out (`handedOutAt`; kept a week so a re-sent replenish cannot store it again). */
@Entity('one_time_prekeys')
export class OneTimePreKeyEntity {
  @PrimaryColumn('uuid', { name: 'user_id' }) userId: string;
  @PrimaryColumn('int', { name: 'key_id' }) keyId: number;
  @Column('text', { name: 'public_key' }) publicKey: string;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt: Date;
  @Column('timestamptz', { name: 'handed_out_at', nullable: true }) handedOutAt: Date | null;
}
