import sharp, { Metadata, SharpOptions } from 'sharp';
import { AppError } from '../core/errors';

/** Images with more pixels than this (per frame) are refused: decoding them is a memory bomb. */
export const MAX_IMAGE_PIXELS = 50_000_000;
/** Long side of the optimised original; never upscaled. */
export const OPTIMISED_MAX_SIDE = 2560;
export const MEDIUM_SIDE = 800;
export const THUMB_SIDE = 200;
export const AVATAR_SIDE = 400;

/** Untrusted input: refuse oversized images before decoding and stop at the first decoder warning. */
const INPUT: SharpOptions = { limitInputPixels: MAX_IMAGE_PIXELS, failOn: 'warning', autoOrient: true };

export interface ImageSize {
  width: number;
  height: number;
}

/**
 * Reads only the header (cheap enough for the request): the displayed size, or 422
 * IMAGE_TOO_LARGE for a decompression bomb, or 422 INVALID_IMAGE when even the header is broken.
 */
export async function inspectImage(path: string): Promise<ImageSize> {
  let meta: Metadata;
  try {
    meta = await sharp(path, { limitInputPixels: false }).metadata();
  } catch {
    throw new AppError('INVALID_IMAGE');
  }
  if (!meta.width || !meta.height) throw new AppError('INVALID_IMAGE');
  const frameHeight = meta.pageHeight ?? meta.height;
  if (meta.width * frameHeight > MAX_IMAGE_PIXELS) {
    throw new AppError('IMAGE_TOO_LARGE', `Images may have at most ${MAX_IMAGE_PIXELS / 1e6} megapixels`);
  }
  return meta.autoOrient ?? { width: meta.width, height: frameHeight };
}

/** The decoder refused the pixels: retrying cannot help. */
export class CorruptImageError extends Error {
  constructor(cause: unknown) {
    super(`corrupt image: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'CorruptImageError';
  }
}

export interface PreviewVariants {
  medium: Buffer;
  thumb: Buffer;
}

/**
 * Medium and thumbnail, still frames, made first because chats show them first: cut straight
 * from the source (JPEG shrink-on-load makes this cheap), the thumbnail from the medium.
 */
export async function makePreviews(source: Buffer): Promise<PreviewVariants> {
  return decoding(async () => {
    const medium = await sharp(source, INPUT).resize({ width: MEDIUM_SIDE, height: MEDIUM_SIDE, fit: 'inside', withoutEnlargement: true }).webp({ quality: 80 }).toBuffer();
    const thumb = await sharp(medium).resize({ width: THUMB_SIDE, height: THUMB_SIDE, fit: 'inside', withoutEnlargement: true }).webp({ quality: 75 }).toBuffer();
    return { medium, thumb };
  });
}

/**
 * The optimised original: auto-rotated, stripped of metadata (sharp writes none unless asked),
 * bounded to 2560 px, WebP; an animated GIF (or WebP) stays animated.
 */
export function makeOptimised(source: Buffer, animated: boolean): Promise<Buffer> {
  return decoding(() =>
    sharp(source, { ...INPUT, animated })
      .resize({ width: OPTIMISED_MAX_SIDE, height: OPTIMISED_MAX_SIDE, fit: 'inside', withoutEnlargement: true })
      .webp({ quality: 82 })
      .toBuffer(),
  );
}

async function decoding<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw new CorruptImageError(error);
  }
}

/** A square 400×400 WebP cut from the middle of the image (upscaled if smaller: avatars are fixed-size). */
export async function makeAvatar(path: string): Promise<Buffer> {
  try {
    return await sharp(path, INPUT).resize(AVATAR_SIDE, AVATAR_SIDE, { fit: 'cover' }).webp({ quality: 85 }).toBuffer();
  } catch {
    throw new AppError('INVALID_IMAGE');
  }
}
