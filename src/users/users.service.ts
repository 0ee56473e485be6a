import { Injectable } from '@nestjs/common';
import { EntityManager } from 'typeorm';
import { AppError } from '../core/errors';
import { isUniqueViolation } from '../core/database/query-results';
import { UserEntity } from './entities/user.entity';
import { UsersRepository } from './users.repository';

@Injectable()
export class UsersService {
  constructor(private readonly users: UsersRepository) {}

  findByEmail(email: string, tx?: EntityManager): Promise<UserEntity | null> {
    return this.users.findByEmail(email, tx);
  }

  findById(id: string): Promise<UserEntity | null> {
    return this.users.findById(id);
  }

  async assertNicknameFree(nickname: string, exceptUserId?: string, tx?: EntityManager): Promise<void> {
    if (await this.users.isNicknameTaken(nickname, exceptUserId, tx)) throw new AppError('NICKNAME_TAKEN');
  }

  /** Creates the account; a nickname taken by a concurrent sign-up still answers NICKNAME_TAKEN. */
  async create(tx: EntityManager, email: string, nickname: string): Promise<UserEntity> {
    try {
      return await this.users.create(tx, { email, nickname });
    } catch (error) {
      if (isUniqueViolation(error, 'users_nickname_lower_key')) throw new AppError('NICKNAME_TAKEN');
      throw error;
    }
  }

  /** The user's preferred language for mail, when one is known. */
  async localeOf(email: string): Promise<'en' | 'ru' | null> {
    const user = await this.users.findByEmail(email);
    if (!user) return null;
    const locale = (await this.users.settingsOf(user.id)).locale;
    return locale === 'ru' || locale === 'en' ? locale : null;
  }

  /** True when `blockerId` has blocked `blockedId`. */
  hasBlocked(blockerId: string, blockedId: string, tx?: EntityManager): Promise<boolean> {
    return this.users.hasBlocked(blockerId, blockedId, tx);
  }

  /** True when either user has blocked the other. */
  isBlockedEitherWay(a: string, b: string, tx?: EntityManager): Promise<boolean> {
    return this.users.isBlockedEitherWay(a, b, tx);
  }

  /** False when the user turned read receipts off (boolean false or the client's 'nobody'). */
  async readReceiptsEnabled(userId: string): Promise<boolean> {
    const setting = (await this.users.settingsOf(userId)).showReadReceipts;
    return setting !== false && setting !== 'nobody';
  }
}
