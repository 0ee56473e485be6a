import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { UploadKind } from '../media-types';

/**
 * State of an image's WebP variants: `none` for files that have none (and avatars, made final
 * in the request), `pending` until the job has written them, `ready`, or `failed` (corrupt
 * image: the original keeps being served under every variant URL).
 */
export type VariantsStatus = 'none' | 'pending' | 'ready' | 'failed';

@Entity('uploads')
export class UploadEntity {
  @PrimaryColumn('uuid') id: string;
  /** Null once the owner's account is gone and the upload is kept for what still shows it (a forward, a group's avatar). */
  @Column('uuid', { name: 'owner_id', nullable: true }) ownerId: string | null;
  /** Random file name in storage (and in the URL); never the client's name. */
  @Column('text', { name: 'stored_name' }) storedName: string;
  @Column('text', { name: 'original_name' }) originalName: string;
  @Column('text') mime: string;
  @Column('text') kind: UploadKind;
  /** The bytes kept as the file itself: for an image, its original as stored (stripped or turned), which its URL serves until the variants are made. */
  @Column('integer') size: number;
  /** What its WebP variants take on disk besides (written by their job); counted with `size` by the daily quota. */
  @Column({ type: 'bigint', name: 'variant_bytes', default: 0, select: false, insert: false }) variantBytes?: string;
  @Column('integer', { nullable: true }) width: number | null;
  @Column('integer', { nullable: true }) height: number | null;
  @Column('text') variants: VariantsStatus;
  /**
   * Images: the stored original had its metadata removed before the upload was answered (every
   * image stored since that was done). An original without it is never served as uploaded.
   */
  @Column('boolean', { name: 'metadata_stripped' }) metadataStripped: boolean;
  @Column('timestamptz', { name: 'created_at', default: () => 'now()' }) createdAt: Date;
}
