import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { isUuid } from '../core/database/ids';
import { AppError } from '../core/errors';
import { UsersService } from '../users/users.service';
import { BundleKeys, HandedOutBundle, KeysRepository, PublicPreKey } from './keys.repository';

@Injectable()
export class KeysService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly keys: KeysRepository,
    private readonly users: UsersService,
  ) {}

  /**
   * Publishes the caller's bundle. A new upload means the client generated new keys (e.g. after
   * logging in again, with prekey ids restarting at 1), so every older one-time prekey goes too.
   */
  async upload(userId: string, bundle: BundleKeys & { oneTimePreKeys: PublicPreKey[] }): Promise<void> {
    await this.dataSource.transaction(async (tx) => {
      await this.keys.saveBundle(tx, userId, bundle);
      await this.keys.deleteAllPreKeys(tx, userId);
      await this.keys.insertPreKeys(tx, userId, bundle.oneTimePreKeys);
    });
  }

  /**
   * Adds one-time prekeys. A key re-sent with the id and public key already stored is skipped (a
   * retried request stays harmless); an id stored with a different key answers 409
   * PREKEY_ID_TAKEN and nothing of the call is stored, since the server would otherwise hand out
   * a key whose private half the client no longer has.
   */
  async replenish(userId: string, keys: PublicPreKey[]): Promise<number> {
    return this.dataSource.transaction(async (tx) => {
      if (!(await this.keys.lockBundle(tx, userId))) throw new AppError('BUNDLE_NOT_FOUND', 'Upload a key bundle first');
      const inserted = new Set(await this.keys.insertPreKeys(tx, userId, keys));
      const skipped = keys.filter((k) => !inserted.has(k.keyId));
      if (skipped.length) {
        const sent = new Map(skipped.map((k) => [k.keyId, k.publicKey]));
        const taken = (await this.keys.findPreKeys(tx, userId, [...sent.keys()])).filter((stored) => stored.publicKey !== sent.get(stored.keyId));
        if (taken.length) throw new AppError('PREKEY_ID_TAKEN', undefined, { keyIds: taken.map((k) => k.keyId).sort((a, b) => a - b) });
      }
      return inserted.size;
    });
  }

  /**
   * Another user's bundle with one of their one-time prekeys, which is consumed. Fetching your
   * own is refused: it would only burn a key no peer could use.
   */
  async fetchBundle(callerId: string, targetId: string): Promise<HandedOutBundle> {
    if (!isUuid(targetId)) throw new AppError('BUNDLE_NOT_FOUND');
    if (targetId === callerId) throw new AppError('CANNOT_TARGET_SELF', 'Fetching your own bundle would consume one of your one-time prekeys');
    if (await this.users.hasBlocked(targetId, callerId)) throw new AppError('BLOCKED');
    const bundle = await this.keys.takeBundle(targetId);
    if (!bundle) throw new AppError('BUNDLE_NOT_FOUND');
    return bundle;
  }

  /** Whether a user (possibly yourself) has published a bundle, consuming nothing. */
  async bundleStatus(callerId: string, targetId: string): Promise<boolean> {
    if (!isUuid(targetId)) throw new AppError('USER_NOT_FOUND');
    if (targetId !== callerId && (await this.users.hasBlocked(targetId, callerId))) throw new AppError('BLOCKED');
    const status = await this.keys.bundleStatus(targetId);
    if (!status.userExists) throw new AppError('USER_NOT_FOUND');
    return status.hasBundle;
  }

  /** For other features (secret chats): whether `userId` has published a bundle; false for unknown users. */
  hasBundle(userId: string, tx?: EntityManager): Promise<boolean> {
    return this.keys.hasBundle(userId, tx);
  }

  countPreKeys(userId: string): Promise<number> {
    return this.keys.countPreKeys(userId);
  }
}
