import { Column, Entity, PrimaryColumn } from 'typeorm';

@Entity('users')
export class UserEntity {
  @PrimaryColumn('uuid') id: string;
  @Column('text') email: string;
  @Column('text') nickname: string;
  @Column('text', { name: 'first_name', nullable: true }) firstName: string | null;
  @Column('text', { name: 'last_name', nullable: true }) lastName: string | null;
  @Column('text', { nullable: true }) avatar: string | null;
  @Column('text', { nullable: true }) bio: string | null;
  @Column('timestamptz', { name: 'last_online_at', nullable: true }) lastOnlineAt: Date | null;
  /** When the account was last used (a session made or used): what autoDeleteMonths counts from. */
  @Column('timestamptz', { name: 'last_active_at', default: () => 'now()' }) lastActiveAt: Date;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt: Date;
  @Column('timestamptz', { name: 'updated_at', default: () => 'now()' }) updatedAt: Date;
}
