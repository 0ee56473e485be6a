import sharp, { Metadata, Sharp, SharpOptions } from 'sharp';
import { AppError } from '../core/errors';
import { isStrippable, MalformedImageError, stripMetadata, StrippableExt } from './image-metadata';

/** Images with more pixels than this (per frame) are refused: decoding them is a memory bomb. */
export const MAX_IMAGE_PIXELS = 50_000_000;
/** Long side of the optimised original; never upscaled. */
export const OPTIMISED_MAX_SIDE = 2560;
export const MEDIUM_SIDE = 800;
export const THUMB_SIDE = 200;
export const AVATAR_SIDE = 400;

/**
 * Untrusted input: refuse oversized images before decoding. Damaged pixel data is decoded as far
 * as it goes (`failOn: 'none'`): a photo missing its last bytes still gets its variants, as a
 * browser would still show it, instead of leaving the as-uploaded file as the only one served.
 */
const INPUT: SharpOptions = { limitInputPixels: MAX_IMAGE_PIXELS, failOn: 'none', autoOrient: true };

/**
 * At most this many images are decoded or encoded at once in a process. sharp runs on libuv's
 * thread pool (4 threads unless UV_THREADPOOL_SIZE says otherwise), which file reads and writes
 * and DNS lookups share: a few heavy images at once (a large animated image takes seconds) would
 * hold every thread and stall serving files, receiving uploads and outbound requests meanwhile.
 */
export const IMAGE_SLOTS = 2;
/** A request waits for a slot behind at most this many others; past it, 503 SERVICE_UNAVAILABLE (background jobs always wait). */
export const MAX_IMAGES_WAITING = 32;
const IN_REQUEST = { maxWaiting: MAX_IMAGES_WAITING };

/** A counting semaphore: `run` starts work when fewer than `size` runs are going, in arrival order. */
export class WorkSlots {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly size: number) {}

  async run<T>(work: () => Promise<T>, options: { maxWaiting?: number } = {}): Promise<T> {
    if (this.running >= this.size) {
      if (options.maxWaiting !== undefined && this.waiting.length >= options.maxWaiting) {
        throw new AppError('SERVICE_UNAVAILABLE', 'Too many images are being processed; try again shortly', { retryAfter: 1 });
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.running++;
    try {
      return await work();
    } finally {
      const next = this.waiting.shift();
      // The slot passes straight to the next in line (running stays the same).
      if (next) next();
      else this.running--;
    }
  }
}

const imageSlots = new WorkSlots(IMAGE_SLOTS);

export interface ImageSize {
  width: number;
  height: number;
}

export interface ImageInfo extends ImageSize {
  /** EXIF orientation, 1 (as stored) to 8; the size above is the displayed one. */
  orientation: number;
}

/**
 * Reads only the header (cheap enough for the request): the displayed size, or 422
 * IMAGE_TOO_LARGE for a decompression bomb, or 422 INVALID_IMAGE when even the header is broken.
 */
export async function inspectImage(path: string): Promise<ImageInfo> {
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
  const size = meta.autoOrient ?? { width: meta.width, height: frameHeight };
  return { width: size.width, height: size.height, orientation: meta.orientation ?? 1 };
}

/**
 * The image as it is kept, and served until (or instead of) its WebP variants: with no EXIF,
 * XMP, IPTC or comments. Losslessly when it can be (the container is walked, the coded pixels
 * are copied, see image-metadata.ts); re-encoded in its own format when the picture must turn
 * (dropping an EXIF orientation would show it sideways) or when its container does not parse.
 * What can be neither stripped nor re-encoded is refused with 422 INVALID_IMAGE: no image is
 * ever kept with its metadata.
 */
export function withoutMetadata(source: Buffer, ext: string, orientation: number): Promise<Buffer> {
  if (!isStrippable(ext)) throw new Error(`no metadata stripping for .${ext} images`);
  return imageSlots.run(async () => {
    if (orientation > 1) {
      const turned = await reencoded(source, ext).catch(() => null);
      if (turned) return turned;
      // Undecodable pixels cannot be turned: stripped as they are, shown unturned.
    }
    const stripped = losslesslyStripped(source, ext);
    if (stripped && (await carriesNoMetadata(stripped))) return stripped;
    try {
      // A container that does not parse is re-encoded as its first frame: every frame of a long
      // animation took seconds of the request (and of a thread file I/O shares).
      return await reencoded(source, ext, false);
    } catch {
      throw new AppError('INVALID_IMAGE');
    }
  }, IN_REQUEST);
}

function losslesslyStripped(source: Buffer, ext: StrippableExt): Buffer | null {
  try {
    return stripMetadata(source, ext);
  } catch (error) {
    if (error instanceof MalformedImageError) return null;
    throw error;
  }
}

/** A second opinion from libvips on the walker's output: nothing it would read as metadata is left. */
async function carriesNoMetadata(image: Buffer): Promise<boolean> {
  try {
    const meta = await sharp(image, { limitInputPixels: false }).metadata();
    return !meta.exif && !meta.xmp && !meta.xmpAsString && !meta.iptc && !meta.tifftagPhotoshop && !meta.comments?.length;
  } catch {
    return false;
  }
}

/** Decoded (turned upright) and encoded again in the same format: sharp writes no metadata but the kept ICC profile. */
async function reencoded(source: Buffer, ext: StrippableExt, animated = ext === 'gif' || ext === 'webp'): Promise<Buffer> {
  const image = sharp(source, { ...INPUT, animated }).keepIccProfile();
  return encoders[ext](image).toBuffer();
}

const encoders: Record<StrippableExt, (image: Sharp) => Sharp> = {
  jpg: (image) => image.jpeg({ quality: 92 }),
  png: (image) => image.png(),
  webp: (image) => image.webp({ quality: 90 }),
  gif: (image) => image.gif(),
};

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

/** A background job's image work: it waits for a slot as long as it takes. */
async function decoding<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await imageSlots.run(work);
  } catch (error) {
    throw new CorruptImageError(error);
  }
}

/** A square 400×400 WebP cut from the middle of the image (upscaled if smaller: avatars are fixed-size). */
export function makeAvatar(path: string): Promise<Buffer> {
  return imageSlots.run(async () => {
    try {
      return await sharp(path, INPUT).resize(AVATAR_SIDE, AVATAR_SIDE, { fit: 'cover' }).webp({ quality: 85 }).toBuffer();
    } catch {
      throw new AppError('INVALID_IMAGE');
    }
  }, IN_REQUEST);
}
