import { Column, Entity, PrimaryColumn } from 'typeorm';

/** Per-user settings as one JSON document, so every device reads the same values. */
@Entity('user_settings')
export class UserSettingsEntity {
  @PrimaryColumn('uuid', { name: 'user_id' }) userId: string;
  @Column('jsonb') settings: Record<string, unknown>;
  @Column('timestamptz', { name: 'updated_at', default: () => 'now()' }) updatedAt: Date;
}
