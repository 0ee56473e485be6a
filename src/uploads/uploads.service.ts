import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { EntityManager } from 'typeorm';
import { AppConfig } from '../core/config/app-config';
import { newId } from '../core/database/ids';
import { AppError } from '../core/errors';
import { validationError } from '../core/http/validation';
import { JobQueue } from '../jobs/job-queue';
import { AvatarResultDto, EncryptedUploadResultDto, toUploadResult, UploadResultDto } from './dto/upload.dto';
import { ReceivedFile } from './file-upload.interceptor';
import { sniffFile } from './file-sniffer';
import { inspectImage, makeAvatar, AVATAR_SIDE, withoutMetadata } from './image-processing';
import { MEDIA_TYPES, UploadKind, VARIANT_MIME } from './media-types';
import { FileStorage } from './storage/file-storage';
import { ENCRYPTED_EXT, extOf, fileNameOf, isEncryptedName, isStoredName, newStoredName, ORIGINALS, storedNameFromUrl, TEMP_DIR, urlOf, VariantArea } from './upload-names';
import { NewUpload, UploadsRepository } from './uploads.repository';

export const MAX_UPLOAD_BYTES = 20 * 1024 * 1024;
export const MAX_AVATAR_BYTES = 10 * 1024 * 1024;
/** A secret chat's encrypted media (wire contract v2.2 §9). */
export const MAX_ENCRYPTED_BYTES = 100 * 1024 * 1024;
/** How an encrypted blob is recorded and served: bytes nobody but the chat's members can read. */
const ENCRYPTED_MIME = 'application/octet-stream';
/** Names per delete-files job: job data stays small JSON. */
const DELETE_BATCH = 500;
/** Uploads looked at per step (one transaction) of the unused-uploads sweep. */
const SWEEP_BATCH = 500;
const DAY_MS = 24 * 3_600_000;

/** An upload as other features see it (messages check media, profiles check avatars). */
export interface OwnedUpload {
  url: string;
  kind: UploadKind;
  name: string;
  size: number;
  /** An opaque blob from POST /api/upload/encrypted: media of secret chats only. */
  encrypted: boolean;
}

/** Where the bytes for a public URL come from, and whether they are the final ones. */
export interface StoredFile {
  key: string;
  size: number;
  contentType: string;
  kind: UploadKind;
  /** False while a variant URL answers with the original: it must not be cached for long. */
  final: boolean;
}

/** Temp files older than this are leftovers of a crashed process (an upload takes minutes at most). */
const STALE_TEMP_MS = 60 * 60_000;

/** An image whose variants are still pending this long after its upload has lost its job (see requeueOverdueVariants). */
export const VARIANTS_OVERDUE_MS = 10 * 60_000;
/** An image still pending this long after its upload is not queued again (see requeueOverdueVariants). */
const VARIANTS_GIVE_UP_MS = 24 * 3_600_000;
/** Overdue images queued again per sweep. */
const VARIANTS_REQUEUE_BATCH = 500;

@Injectable()
export class UploadsService implements OnApplicationBootstrap {
  private readonly logger = new Logger('Uploads');

  constructor(
    private readonly uploads: UploadsRepository,
    private readonly storage: FileStorage,
    private readonly jobs: JobQueue,
    private readonly config: AppConfig,
  ) {}

  /** Sweeps partial uploads a crashed process left in the shared temp directory. */
  async onApplicationBootstrap(): Promise<void> {
    const dir = join(this.config.values.uploadDir, TEMP_DIR);
    const names = await readdir(dir).catch(() => [] as string[]);
    let removed = 0;
    for (const name of names) {
      const path = join(dir, name);
      const info = await stat(path).catch(() => null);
      if (info?.isFile() && Date.now() - info.mtimeMs > STALE_TEMP_MS) {
        await rm(path, { force: true });
        removed++;
      }
    }
    if (removed) this.logger.log(`removed ${removed} stale partial upload(s)`);
  }

  /**
   * Keeps a file whose bytes are one of the supported types, under a random name. An image is
   * kept without its metadata (EXIF with GPS, XMP, IPTC), so no URL ever serves it, and is
   * answered as soon as that original is stored; its WebP variants are made by a job.
   */
  async upload(ownerId: string, file: ReceivedFile | undefined): Promise<UploadResultDto> {
    const received = requireFile(file);
    await this.requireDailyRoom(ownerId, received.size);
    const type = await sniffFile(received.path, received.originalname);
    if (!type) throw new AppError('UNSUPPORTED_FILE_TYPE');
    const image = type.kind === 'IMAGE' ? await inspectImage(received.path) : null;
    // The temp file of a stripped image is left for the upload interceptor to remove.
    const source = image ? await withoutMetadata(await readFile(received.path), type.ext, image.orientation) : { path: received.path };
    // What is kept and served: a turned image can be several times its upload.
    const size = Buffer.isBuffer(source) ? source.length : received.size;
    const storedName = newStoredName(type.ext);
    const upload: NewUpload = {
      id: newId(),
      ownerId,
      storedName,
      originalName: cleanName(received.originalname, type.ext),
      mime: type.mime,
      kind: type.kind,
      size,
      width: image?.width ?? null,
      height: image?.height ?? null,
      variants: image ? 'pending' : 'none',
      metadataStripped: image !== null,
    };
    await this.keep(image ? `${ORIGINALS}/${storedName}` : storedName, source, upload);
    if (image) await this.requestVariants(upload.id);
    return toUploadResult(upload);
  }

  /** Images only; the 400×400 WebP is made here, so the returned URL works at once. */
  async uploadAvatar(ownerId: string, file: ReceivedFile | undefined): Promise<AvatarResultDto> {
    const received = requireFile(file);
    await this.requireDailyRoom(ownerId, received.size);
    const type = await sniffFile(received.path, received.originalname);
    if (type?.kind !== 'IMAGE') throw new AppError('UNSUPPORTED_FILE_TYPE', 'An avatar must be a JPEG, PNG, GIF or WebP image');
    await inspectImage(received.path);
    const avatar = await makeAvatar(received.path);
    const storedName = newStoredName('webp');
    await this.keep(storedName, avatar, {
      id: newId(),
      ownerId,
      storedName,
      originalName: cleanName(received.originalname, 'webp'),
      mime: VARIANT_MIME,
      kind: 'IMAGE',
      size: avatar.length,
      width: AVATAR_SIDE,
      height: AVATAR_SIDE,
      variants: 'none',
      // Made by sharp, which writes no metadata.
      metadataStripped: true,
    });
    return { url: urlOf(storedName) };
  }

  /**
   * A secret chat's media (§9): the bytes exactly as sent, which the sender encrypted with a key
   * the server never sees. Nothing looks at them (no type check, no processing, no variants);
   * they are kept under a random `.enc` name, recorded as the sender's upload like any other, so
   * only the sender can put them in a message and deleting that message releases them.
   */
  async uploadEncrypted(ownerId: string, file: ReceivedFile | undefined): Promise<EncryptedUploadResultDto> {
    const received = requireFile(file);
    await this.requireDailyRoom(ownerId, received.size);
    const storedName = newStoredName(ENCRYPTED_EXT);
    const upload: NewUpload = {
      id: newId(),
      ownerId,
      storedName,
      originalName: cleanName(received.originalname, ENCRYPTED_EXT),
      mime: ENCRYPTED_MIME,
      kind: 'FILE',
      size: received.size,
      width: null,
      height: null,
      variants: 'none',
      metadataStripped: false,
    };
    await this.keep(storedName, { path: received.path }, upload);
    return { url: urlOf(storedName), name: upload.originalName, size: upload.size };
  }

  /**
   * The caller's upload behind a URL (`/uploads/<name>` or its medium/thumbs form), or null when
   * the URL is not an upload URL or the file belongs to someone else.
   */
  async findOwned(userId: string, url: string): Promise<OwnedUpload | null> {
    const storedName = storedNameFromUrl(url);
    if (!storedName) return null;
    const upload = await this.uploads.findOwnedByName(userId, storedName);
    return upload && { url: urlOf(upload.storedName), kind: upload.kind, name: upload.originalName, size: upload.size, encrypted: isEncryptedName(upload.storedName) };
  }

  /** An image this user uploaded (avatars of users and chats); resolves its canonical URL, else MEDIA_NOT_FOUND. */
  async requireOwnedImage(userId: string, url: string): Promise<string> {
    const upload = await this.findOwned(userId, url);
    if (!upload || upload.kind !== 'IMAGE') throw new AppError('MEDIA_NOT_FOUND', 'The avatar must be an image you uploaded');
    return upload.url;
  }

  /**
   * Inside the transaction that makes the image at `url` (requireOwnedImage's answer) an avatar:
   * keeps it from being deleted until that commits. What deletes an unused upload (the sweep, the
   * delete of the last message showing it) locks it and then looks for avatars showing it, which
   * it would not see before this commits; MEDIA_NOT_FOUND when it went meanwhile.
   */
  async holdOwnedImage(tx: EntityManager, userId: string, url: string): Promise<void> {
    if (!(await this.uploads.holdOwnedImage(tx, userId, url))) throw new AppError('MEDIA_NOT_FOUND', 'The avatar must be an image you uploaded');
  }

  /**
   * Queues the removal of every file of a user but `except`. Call it before deleting the account
   * (the rows go with it by cascade), and again inside the deletion transaction once the user
   * row is locked, for an upload that landed in between (a later one waits for the lock and then
   * fails its foreign key, taking its file back out). The job waits until the upload rows are
   * really gone, so a deletion that rolls back never costs anyone their files. Resolves the names queued.
   */
  async deleteAllOf(userId: string, options: { tx?: EntityManager; except?: ReadonlySet<string> } = {}): Promise<string[]> {
    const names = (await this.uploads.storedNamesOf(userId, options.tx)).filter((name) => !options.except?.has(name));
    for (let i = 0; i < names.length; i += DELETE_BATCH) {
      await this.jobs.add('delete-files', { names: names.slice(i, i + DELETE_BATCH) });
    }
    return names;
  }

  /** The media URLs shown by messages in these chats and their avatars: read them before deleting the chats, then `releaseMedia`. */
  mediaOfChats(tx: EntityManager, chatIds: string[]): Promise<string[]> {
    return this.uploads.mediaOfChats(tx, chatIds);
  }

  /**
   * Call inside the transaction that deleted messages (one, or whole chats), with the media URLs
   * they showed: the uploads that nothing uses any more (no other message, no avatar) are
   * deleted, and stop being served when it commits. Resolves the step to run after the commit,
   * which queues the removal of their files from storage.
   */
  async releaseMedia(tx: EntityManager, urls: ReadonlyArray<string | null>): Promise<() => Promise<void>> {
    const wanted = [...new Set(urls.filter((url): url is string => !!url))];
    const names = wanted.length ? await this.uploads.deleteUnreferenced(tx, wanted) : [];
    return () => this.removeFiles(names);
  }

  /**
   * Deletes the uploads that nothing (no message, no avatar, no chat's avatar) shows
   * UPLOAD_UNUSED_HOURS after they were made: a client uploads a file to send it at once, so an
   * upload still unused by then never will be, and without this anyone could fill the disk with
   * files no one ever sees. Each upload is looked at once, at that age (the sweep's position is
   * kept in the database, shared by all instances); one that becomes unused later is released
   * by whatever stopped using it (a deleted message, a replaced avatar). Resolves how many went.
   */
  async sweepUnused(now = new Date()): Promise<number> {
    const cutoff = new Date(now.getTime() - this.config.values.uploadUnusedHours * 3_600_000);
    let deleted = 0;
    for (;;) {
      const { names, more } = await this.uploads.sweepUnusedStep(cutoff, SWEEP_BATCH);
      deleted += names.length;
      await this.removeFiles(names);
      if (!more) return deleted;
    }
  }

  /** UPLOAD_QUOTA_EXCEEDED when `size` more bytes would take the user's uploads of the last 24 hours past UPLOAD_DAILY_MB. */
  async requireDailyRoom(ownerId: string, size: number): Promise<void> {
    const kept = await this.uploads.bytesSince(ownerId, new Date(Date.now() - DAY_MS));
    if (kept + size > this.config.values.uploadDailyBytes) throw new AppError('UPLOAD_QUOTA_EXCEEDED');
  }

  /** After commit. The files are no longer served either way, so a queue outage costs disk space only. */
  private async removeFiles(names: string[]): Promise<void> {
    for (let i = 0; i < names.length; i += DELETE_BATCH) {
      try {
        await this.jobs.add('delete-files', { names: names.slice(i, i + DELETE_BATCH) });
      } catch (error) {
        this.logger.error(`delete-files for ${names.length} released file(s) not queued; they stay on disk unserved: ${(error as Error).message}`);
        return;
      }
    }
  }

  /**
   * The bytes for `/uploads/<name>` (area `original`) or a variant URL. An image URL answers with
   * its WebP variant when it exists, else with the optimised original, else with the original as
   * kept (stripped of its metadata at upload), so a client never sees a broken image while the
   * job runs (or after it failed). Only files whose upload row exists are served: a deleted
   * upload (its last message, or its account, gone) stops being served at commit, whether or not
   * its files are removed yet.
   */
  async locate(area: 'original' | VariantArea, name: string): Promise<StoredFile | null> {
    if (!isStoredName(name)) return null;
    const type = MEDIA_TYPES[extOf(name)];
    if (!type) return null;
    const image = type.kind === 'IMAGE';
    if (!image && area !== 'original') return null;
    const upload = await this.uploads.findServable(name);
    if (!upload) return null;
    const kept = upload.metadataStripped ? [`${ORIGINALS}/${name}`] : [];
    const candidates = image ? [...(area === 'original' ? [] : [`${area}/${name}`]), name, ...kept] : [name];
    for (const [index, key] of candidates.entries()) {
      const size = await this.storage.size(key);
      if (size === null) continue;
      const asUploaded = !image || key.startsWith(`${ORIGINALS}/`);
      return { key, size, contentType: asUploaded ? type.mime : VARIANT_MIME, kind: type.kind, final: index === 0 };
    }
    return null;
  }

  /**
   * Stores the bytes, then records the row, counted against the owner's day once more under their
   * row's lock (requireDailyRoom before the work is a cheap early answer; uploads running in
   * parallel all pass it). An upload not recorded takes the stored file back out.
   */
  private async keep(key: string, source: Buffer | { path: string }, upload: NewUpload): Promise<void> {
    await this.storage.put(key, source);
    let verdict: 'kept' | 'over-quota' | 'no-owner';
    try {
      verdict = await this.uploads.insertWithinQuota(upload, new Date(Date.now() - DAY_MS), this.config.values.uploadDailyBytes);
    } catch (error) {
      await this.storage.delete(key).catch(() => undefined);
      throw error;
    }
    if (verdict === 'kept') return;
    await this.storage.delete(key).catch(() => undefined);
    throw new AppError(verdict === 'over-quota' ? 'UPLOAD_QUOTA_EXCEEDED' : 'UNAUTHORIZED');
  }

  /**
   * Queues again the variants of images still pending VARIANTS_OVERDUE_MS after their upload: their
   * job was never queued (the queue was unreachable) or was lost (an embedded process stopped
   * with it in hand), and the full original would be served as every variant for good. Resolves
   * how many were asked for.
   */
  async requeueOverdueVariants(now = new Date()): Promise<number> {
    // Given up after a day: what a day of tries did not make (storage trouble each time) is left as it is, its original served.
    const overdue = await this.uploads.pendingVariants(new Date(now.getTime() - VARIANTS_GIVE_UP_MS), new Date(now.getTime() - VARIANTS_OVERDUE_MS), VARIANTS_REQUEUE_BATCH);
    // A job id of its own per overdue period: the first job's id may still be kept (failed, for a
    // day), which would make this add nothing. A job that runs after another made the variants finds them ready.
    const period = Math.floor(now.getTime() / VARIANTS_OVERDUE_MS);
    for (const id of overdue) await this.requestVariants(id, `again-${period}`);
    return overdue.length;
  }

  private async requestVariants(uploadId: string, attempt = ''): Promise<void> {
    try {
      await this.jobs.add('image-variants', { uploadId }, { jobId: `image-variants-${uploadId}${attempt && `-${attempt}`}` });
    } catch (error) {
      this.logger.error(`image-variants for ${uploadId} not queued; the original stays served: ${(error as Error).message}`);
    }
  }
}

function requireFile(file: ReceivedFile | undefined): ReceivedFile {
  if (!file) throw validationError({ file: ['a file is required in the multipart field "file"'] });
  if (file.size === 0) throw validationError({ file: ['the file is empty'] });
  return file;
}

/** The client's name as metadata (fileNameOf); a fallback when nothing is left. */
function cleanName(name: string, ext: string): string {
  return fileNameOf(name) || `file.${ext}`;
}
