import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A login on one device. The token itself is never stored, only its SHA-256. */
@Entity('sessions')
export class SessionEntity {
  @PrimaryColumn('uuid') id: string;
  @Column('uuid', { name: 'user_id' }) userId: string;
  @Column('text', { name: 'token_hash' }) tokenHash: string;
  @Column('text', { name: 'device_name' }) deviceName: string;
  @Column('text', { name: 'user_agent', nullable: true }) userAgent: string | null;
  @Column('text', { nullable: true }) ip: string | null;
  @Column('text', { nullable: true }) location: string | null;
  @Column('timestamptz', { name: 'created_at' }) createdAt: Date;
  @Column('timestamptz', { name: 'last_active_at' }) lastActiveAt: Date;
  @Column('timestamptz', { name: 'expires_at' }) expiresAt: Date;
}
