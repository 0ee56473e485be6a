import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { newId } from '../core/database/ids';
import { UserSettingsEntity } from './entities/user-settings.entity';
import { UserEntity } from './entities/user.entity';

@Injectable()
export class UsersRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  findById(id: string): Promise<UserEntity | null> {
    return this.dataSource.getRepository(UserEntity).findOneBy({ id });
  }

  findByEmail(email: string, tx: EntityManager = this.dataSource.manager): Promise<UserEntity | null> {
    return tx.getRepository(UserEntity).findOneBy({ email });
  }

  async isNicknameTaken(nickname: string, exceptUserId?: string, tx: EntityManager = this.dataSource.manager): Promise<boolean> {
    const rows: unknown[] = await tx.query(
      `SELECT 1 FROM users WHERE lower(nickname) = lower($1) AND ($2::uuid IS NULL OR id <> $2::uuid) LIMIT 1`,
      [nickname, exceptUserId ?? null],
    );
    return rows.length > 0;
  }

  /** Inserts the user and their settings row; a unique violation surfaces as the driver error. */
  async create(tx: EntityManager, data: { email: string; nickname: string }): Promise<UserEntity> {
    const now = new Date();
    const user = tx.create(UserEntity, { id: newId(), email: data.email, nickname: data.nickname, firstName: null, lastName: null, avatar: null, bio: null, lastOnlineAt: null, createdAt: now, updatedAt: now });
    await tx.insert(UserEntity, user);
    await tx.insert(UserSettingsEntity, { userId: user.id, settings: {}, updatedAt: now });
    return user;
  }

  async hasBlocked(blockerId: string, blockedId: string, tx: EntityManager = this.dataSource.manager): Promise<boolean> {
    const rows: unknown[] = await tx.query(`SELECT 1 FROM blocks WHERE blocker_id = $1 AND blocked_id = $2`, [blockerId, blockedId]);
    return rows.length > 0;
  }

  async settingsOf(userId: string): Promise<Record<string, unknown>> {
    const row = await this.dataSource.getRepository(UserSettingsEntity).findOneBy({ userId });
    return row?.settings ?? {};
  }
}
