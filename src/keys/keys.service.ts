import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AppConfig } from '../core/config/app-config';
import { isUuid } from '../core/database/ids';
import { AppError } from '../core/errors';
import { RateLimiter } from '../core/rate-limit/rate-limiter';
import { RealtimePublisher } from '../realtime/realtime-publisher';
import { UsersService } from '../users/users.service';
import './key-events';
import { BundleKeys, HandedOutBundle, KeysRepository, PublicPreKey } from './keys.repository';

/** One-time prekeys one user may have stored at once (POST /api/keys/replenish beyond it: PREKEY_LIMIT). */
export const MAX_STORED_PREKEYS = 1000;
/** Below this many one-time prekeys the owner is told to replenish (`keys:low`). */
export const PREKEYS_LOW_THRESHOLD = 20;

@Injectable()
export class KeysService {
  private readonly logger = new Logger('Keys');

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly keys: KeysRepository,
    private readonly users: UsersService,
    private readonly limiter: RateLimiter,
    private readonly realtime: RealtimePublisher,
    private readonly config: AppConfig,
  ) {}

  /**
   * Publishes the caller's bundle. An upload with a new identity key means the client generated
   * new keys (e.g. after logging in again, with prekey ids restarting at 1), so every older
   * one-time prekey goes too. With the same identity key (the same upload sent again) the keys
   * still waiting are replaced by the upload's, and those handed out within the week stay marked:
   * an upload key with such an id is skipped, not stored again.
   */
  async upload(userId: string, bundle: BundleKeys & { oneTimePreKeys: PublicPreKey[] }): Promise<void> {
    await this.dataSource.transaction(async (tx) => {
      const sameIdentity = (await this.keys.lockedIdentityKey(tx, userId)) === bundle.identityKey;
      await this.keys.saveBundle(tx, userId, bundle);
      await this.keys.pruneHandedOut(tx, userId);
      // The same identity again (an upload sent twice, its answer lost): the keys handed out
      // meanwhile stay marked, so the copy in this upload is not stored and handed out again.
      await this.keys.deleteAllPreKeys(tx, userId, { keepHandedOut: sameIdentity });
      await this.keys.insertPreKeys(tx, userId, bundle.oneTimePreKeys);
    });
  }

  /**
   * Adds one-time prekeys. A key re-sent with the id and public key already stored is skipped (a
   * retried request stays harmless), also when it was handed out meanwhile (it is kept, marked,
   * for a week: stored again, it would go to a second peer); an id stored with a different key
   * answers 409 PREKEY_ID_TAKEN and nothing of the call is stored, since the server would
   * otherwise hand out a key whose private half the client no longer has.
   */
  async replenish(userId: string, keys: PublicPreKey[]): Promise<number> {
    return this.dataSource.transaction(async (tx) => {
      if (!(await this.keys.lockBundle(tx, userId))) throw new AppError('BUNDLE_NOT_FOUND', 'Upload a key bundle first');
      await this.keys.pruneHandedOut(tx, userId);
      const inserted = new Set(await this.keys.insertPreKeys(tx, userId, keys));
      // A client tops up a few dozen when told keys:low; without a ceiling one account could store millions of rows.
      // Counted after the insert (rolled back when over), so a retried call whose keys are all stored still succeeds.
      if (inserted.size && (await this.keys.countPreKeys(userId, tx)) > MAX_STORED_PREKEYS) {
        throw new AppError('PREKEY_LIMIT', `At most ${MAX_STORED_PREKEYS} one-time prekeys are kept; upload more as they are used`);
      }
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
   *
   * Two limits keep one-time prekeys from being drained. The caller may fetch
   * RATE_LIMIT_BUNDLE_FETCH bundles per window, whoever they are of (over it: 429 RATE_LIMIT).
   * The target hands out RATE_LIMIT_PREKEY_HAND_OUT one-time prekeys per window, to anyone;
   * beyond that the bundle comes with `preKey: null`, which X3DH accepts (the session is built
   * on the signed prekey alone), so many accounts together cannot empty the pool, and refusing
   * them could not be turned into a way to stop others from starting a secret chat. When a
   * hand-out leaves the owner with fewer than PREKEYS_LOW_THRESHOLD, their sockets get
   * `keys:low`.
   */
  async fetchBundle(callerId: string, targetId: string): Promise<HandedOutBundle> {
    if (!isUuid(targetId)) throw new AppError('BUNDLE_NOT_FOUND');
    if (targetId === callerId) throw new AppError('CANNOT_TARGET_SELF', 'Fetching your own bundle would consume one of your one-time prekeys');
    await this.limiter.require('bundle-fetch', callerId, this.config.values.bundleFetchLimit, 'Too many key bundle fetches');
    if (await this.users.hasBlocked(targetId, callerId)) throw new AppError('BLOCKED');

    const handOut = await this.limiter.hit('prekey-hand-out', targetId, this.config.values.preKeyHandOutLimit);
    if (!handOut.allowed) {
      const keys = await this.keys.findBundle(targetId);
      if (!keys) throw new AppError('BUNDLE_NOT_FOUND');
      return { ...keys, preKey: null };
    }
    const taken = await this.keys.takeBundle(targetId);
    if (!taken) throw new AppError('BUNDLE_NOT_FOUND');
    if (taken.bundle.preKey && taken.preKeysLeft < PREKEYS_LOW_THRESHOLD) {
      // The key is handed out (committed): a lost notice must not lose it too. The owner hears again at the next hand-out.
      await this.realtime.toUsers([targetId], 'keys:low', { count: taken.preKeysLeft }).catch((error: unknown) => this.logger.warn(`keys:low for ${targetId} not sent: ${(error as Error).message}`));
    }
    return taken.bundle;
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
