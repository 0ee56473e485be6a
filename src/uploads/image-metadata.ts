/**
 * Lossless metadata removal: walks the container of a JPEG, PNG, WebP or GIF and copies only
 * the parts that draw the picture, leaving the coded pixels untouched. Everything else goes:
 * EXIF (GPS, camera, serial numbers, thumbnails of the uncropped photo), XMP, IPTC/Photoshop,
 * comments, text chunks, MPF secondary images and anything appended after the image's end.
 * Colour information (ICC profiles, gamma, Adobe colour transform) is kept, so the picture
 * looks the same. Written here because no maintained package does this for all four formats
 * while keeping the file valid (exif-be-gone, the closest, drops only EXIF/XMP APP1 segments,
 * keeps MPF images and IPTC, and leaves WebP's VP8X flags and RIFF size wrong).
 *
 * Keep-lists, not drop-lists: a part this code does not know is dropped. A damaged file is
 * copied as far as it goes (a truncated scan stays decodable); a file whose structure makes no
 * sense throws MalformedImageError, and the caller re-encodes it instead.
 *
 * EXIF orientation goes with the EXIF: callers rotate an oriented image (re-encoding it) rather
 * than strip it here.
 */

export type StrippableExt = 'jpg' | 'png' | 'webp' | 'gif';

export const isStrippable = (ext: string): ext is StrippableExt => ext === 'jpg' || ext === 'png' || ext === 'webp' || ext === 'gif';

/** The container does not parse as the format it was sniffed as: it cannot be stripped losslessly. */
export class MalformedImageError extends Error {
  constructor(format: string, detail: string) {
    super(`malformed ${format}: ${detail}`);
    this.name = 'MalformedImageError';
  }
}

/** The image without metadata; see the module comment for what is kept. */
export function stripMetadata(bytes: Buffer, ext: StrippableExt): Buffer {
  switch (ext) {
    case 'jpg':
      return stripJpeg(bytes);
    case 'png':
      return stripPng(bytes);
    case 'webp':
      return stripWebp(bytes);
    case 'gif':
      return stripGif(bytes);
  }
}

/**
 * Parts (segments, chunks, blocks) a walk looks at, at most: real images have hundreds, an
 * animation some thousands. A file of millions of tiny parts (a 20 MB run of 2-byte JPEG markers)
 * would hold the event loop for seconds; it is refused, and the caller re-encodes it instead.
 */
export const MAX_IMAGE_PARTS = 100_000;

/**
 * What a walk keeps, in order: adjacent ranges of the input are merged into one (a file's kept
 * parts are mostly back to back), so the output is a few buffers whatever the file's shape; the
 * parts walked are counted against MAX_IMAGE_PARTS.
 */
class Kept {
  private readonly parts: Buffer[] = [];
  /** The input range being extended, not yet in `parts`. */
  private start = -1;
  private end = -1;
  private walked = 0;

  constructor(
    private readonly input: Buffer,
    private readonly format: string,
  ) {}

  /** Counts one part walked, kept or not. */
  step(): void {
    if (++this.walked > MAX_IMAGE_PARTS) throw new MalformedImageError(this.format, `more than ${MAX_IMAGE_PARTS} parts`);
  }

  /** Keeps a range of the input, or a buffer made for the output (a rewritten part). */
  push(part: Buffer): void {
    const offset = part.byteOffset - this.input.byteOffset;
    const ofInput = part.buffer === this.input.buffer && offset >= 0 && offset + part.length <= this.input.length;
    if (ofInput && offset === this.end) {
      this.end += part.length;
      return;
    }
    this.flush();
    if (ofInput) [this.start, this.end] = [offset, offset + part.length];
    else this.parts.push(part);
  }

  concat(...tail: Buffer[]): Buffer {
    this.flush();
    return Buffer.concat([...this.parts, ...tail]);
  }

  private flush(): void {
    if (this.start >= 0) this.parts.push(this.input.subarray(this.start, this.end));
    this.start = this.end = -1;
  }
}

// ---------------------------------------------------------------------------------------------
// JPEG: SOI, then marker segments (FF xx + 16-bit length); after each SOS, entropy-coded data in
// which FF is followed by 00 (a stuffed byte) or D0–D7 (restart markers) until the next marker.

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;
const APP0 = 0xe0;
const APP2 = 0xe2;
const APP14 = 0xee;
const COM = 0xfe;
const EOI_BYTES = Buffer.from([0xff, EOI]);
const JFIF = Buffer.from('JFIF\0', 'latin1');
const ICC_PROFILE = Buffer.from('ICC_PROFILE\0', 'latin1');
const ADOBE = Buffer.from('Adobe', 'latin1');
/** JFIF APP0 payload up to and including the thumbnail size bytes. */
const JFIF_HEADER_LENGTH = 14;

export function stripJpeg(bytes: Buffer): Buffer {
  if (bytes.length < 4 || bytes[0] !== 0xff || bytes[1] !== SOI) throw new MalformedImageError('JPEG', 'no start-of-image marker');
  const out = new Kept(bytes, 'JPEG');
  out.push(bytes.subarray(0, 2));
  let pos = 2;
  for (;;) {
    if (pos >= bytes.length) break; // truncated between segments
    out.step();
    if (bytes[pos] !== 0xff) throw new MalformedImageError('JPEG', `no marker at byte ${pos}`);
    while (pos < bytes.length && bytes[pos] === 0xff) pos++; // fill bytes
    if (pos >= bytes.length) break;
    const marker = bytes[pos++];
    if (marker === EOI) return out.concat(EOI_BYTES); // whatever follows (MPF images, trailers) goes
    if ((marker >= 0xd0 && marker <= 0xd7) || marker === 0x01) {
      out.push(bytes.subarray(pos - 2, pos)); // standalone markers carry no length (FF and the marker)
      continue;
    }
    if (marker === 0x00 || marker === SOI) throw new MalformedImageError('JPEG', `unexpected marker ${marker.toString(16)} at byte ${pos - 1}`);
    if (pos + 2 > bytes.length) break;
    const length = bytes.readUInt16BE(pos);
    if (length < 2) throw new MalformedImageError('JPEG', `segment length ${length} at byte ${pos}`);
    const end = pos + length;
    if (end > bytes.length) break; // a cut header segment is useless to a decoder
    const kept = keptJpegSegment(marker, bytes.subarray(pos - 2, end));
    if (kept) out.push(kept);
    pos = end;
    if (marker === SOS) {
      const scanEnd = entropyDataEnd(bytes, pos);
      out.push(bytes.subarray(pos, scanEnd));
      pos = scanEnd;
    }
  }
  // Truncated: what there is stays decodable up to the cut; a closing EOI helps decoders finish.
  return out.concat(EOI_BYTES);
}

/** The segment to write for `segment` (marker, length, payload), or null to drop it. */
function keptJpegSegment(marker: number, segment: Buffer): Buffer | null {
  const payload = segment.subarray(4);
  if (marker === APP0) {
    if (payload.length < JFIF_HEADER_LENGTH || !startsWith(payload, JFIF)) return null;
    // JFIF's own header is kept (density, version); its embedded thumbnail is not.
    const jfif = Buffer.from(segment.subarray(0, 4 + JFIF_HEADER_LENGTH));
    jfif.writeUInt16BE(2 + JFIF_HEADER_LENGTH, 2);
    jfif[4 + 12] = 0;
    jfif[4 + 13] = 0;
    return jfif;
  }
  if (marker === APP2) return startsWith(payload, ICC_PROFILE) ? segment : null;
  if (marker === APP14) return startsWith(payload, ADOBE) ? segment : null;
  if ((marker >= 0xe1 && marker <= 0xef) || marker === COM) return null;
  return segment;
}

/** Where the entropy-coded data that starts at `from` ends: at the next real marker, or at the end of a cut file. */
function entropyDataEnd(bytes: Buffer, from: number): number {
  let i = from;
  for (;;) {
    i = bytes.indexOf(0xff, i);
    if (i === -1) return bytes.length;
    if (i + 1 >= bytes.length) return i; // a lone FF at the cut
    const next = bytes[i + 1];
    if (next === 0x00 || (next >= 0xd0 && next <= 0xd7)) i += 2;
    else if (next === 0xff) i += 1;
    else return i;
  }
}

// ---------------------------------------------------------------------------------------------
// PNG: signature, then chunks (32-bit length, type, data, CRC) up to IEND.

const PNG_SIGNATURE = Buffer.from('89504e470d0a1a0a', 'hex');
/**
 * Chunks that draw the picture or tell how: the critical ones, transparency, colour (gamma,
 * chromaticities, sRGB, ICC, CICP, HDR mastering), background, histogram, palettes, pixel
 * size, and APNG animation. Text (tEXt, zTXt, iTXt: XMP lives there), eXIf, tIME, dSIG,
 * C2PA and private chunks are not here.
 */
const PNG_KEPT = new Set([
  'IHDR',
  'PLTE',
  'IDAT',
  'IEND',
  'tRNS',
  'cHRM',
  'gAMA',
  'iCCP',
  'sBIT',
  'sRGB',
  'cICP',
  'mDCV',
  'mDCv',
  'cLLI',
  'cLLi',
  'bKGD',
  'hIST',
  'sPLT',
  'pHYs',
  'acTL',
  'fcTL',
  'fdAT',
]);
const PNG_PIXEL_DATA = new Set(['IDAT', 'fdAT']);

export function stripPng(bytes: Buffer): Buffer {
  if (bytes.length < 8 || !startsWith(bytes, PNG_SIGNATURE)) throw new MalformedImageError('PNG', 'no signature');
  const out = new Kept(bytes, 'PNG');
  out.push(bytes.subarray(0, 8));
  let pos = 8;
  while (pos + 8 <= bytes.length) {
    out.step();
    const length = bytes.readUInt32BE(pos);
    const type = bytes.toString('latin1', pos + 4, pos + 8);
    if (!/^[A-Za-z]{4}$/.test(type) || length > 0x7fffffff) throw new MalformedImageError('PNG', `bad chunk at byte ${pos}`);
    const end = pos + 12 + length;
    if (end > bytes.length) {
      // Cut in the middle of pixel data: keep what arrived, as a browser would show it.
      if (PNG_PIXEL_DATA.has(type)) out.push(bytes.subarray(pos));
      break;
    }
    if (PNG_KEPT.has(type)) out.push(bytes.subarray(pos, end));
    else if (isCritical(type)) throw new MalformedImageError('PNG', `unknown critical chunk ${type}`);
    pos = end;
    if (type === 'IEND') break;
  }
  return out.concat();
}

/** An uppercase first letter marks a chunk a decoder must understand. */
const isCritical = (type: string): boolean => type.charCodeAt(0) >= 0x41 && type.charCodeAt(0) <= 0x5a;

// ---------------------------------------------------------------------------------------------
// WebP: RIFF header ('RIFF', size, 'WEBP'), then chunks (FourCC, 32-bit LE size, data padded to
// even). An extended file starts with VP8X, whose flags announce ICC, alpha, EXIF, XMP, animation.

const RIFF = Buffer.from('RIFF', 'latin1');
const WEBP = Buffer.from('WEBP', 'latin1');
const WEBP_KEPT = new Set(['VP8 ', 'VP8L', 'VP8X', 'ALPH', 'ANIM', 'ANMF', 'ICCP']);
const WEBP_FRAME_KEPT = new Set(['VP8 ', 'VP8L', 'ALPH']);
const WEBP_PIXEL_DATA = new Set(['VP8 ', 'VP8L', 'ANMF']);
const VP8X_EXIF_FLAG = 0x08;
const VP8X_XMP_FLAG = 0x04;
/** ANMF data: position, size, duration and flags before the frame's own chunks. */
const ANMF_HEADER_LENGTH = 16;

export function stripWebp(bytes: Buffer): Buffer {
  if (bytes.length < 12 || !startsWith(bytes, RIFF) || !bytes.subarray(8, 12).equals(WEBP)) throw new MalformedImageError('WebP', 'no RIFF/WEBP header');
  // Bytes past the declared RIFF size are not part of the image.
  const declaredEnd = Math.min(bytes.length, 8 + bytes.readUInt32LE(4));
  const walked = new Kept(bytes, 'WebP');
  const body = webpChunks(bytes.subarray(12, declaredEnd), walked, WEBP_KEPT, (fourcc, chunk) => {
    if (fourcc === 'VP8X' && chunk.length >= 9) {
      const copy = Buffer.from(chunk);
      copy[8] &= ~(VP8X_EXIF_FLAG | VP8X_XMP_FLAG);
      return copy;
    }
    if (fourcc === 'ANMF' && chunk.length >= 8 + ANMF_HEADER_LENGTH) {
      // A frame may carry chunks of its own after its header: only its pixels stay.
      const frame = Buffer.concat([chunk.subarray(8, 8 + ANMF_HEADER_LENGTH), webpChunks(chunk.subarray(8 + ANMF_HEADER_LENGTH), walked, WEBP_FRAME_KEPT)]);
      return webpChunk(fourcc, frame);
    }
    return chunk;
  });
  const header = Buffer.concat([RIFF, Buffer.alloc(4), WEBP]);
  header.writeUInt32LE(4 + body.length, 4);
  return Buffer.concat([header, body]);
}

/**
 * The kept chunks of a chunk sequence, each possibly rewritten; a cut pixel chunk is kept as far
 * as it goes. `walked` counts the chunks of the whole file, frames' chunks included.
 */
function webpChunks(bytes: Buffer, walked: Kept, kept: ReadonlySet<string>, rewrite: (fourcc: string, chunk: Buffer) => Buffer = (_, chunk) => chunk): Buffer {
  const out = new Kept(bytes, 'WebP');
  let pos = 0;
  while (pos + 8 <= bytes.length) {
    walked.step();
    const fourcc = bytes.toString('latin1', pos, pos + 4);
    const size = bytes.readUInt32LE(pos + 4);
    if (!/^[\x20-\x7e]{4}$/.test(fourcc)) throw new MalformedImageError('WebP', `bad chunk at byte ${pos}`);
    const end = pos + 8 + size + (size % 2);
    if (pos + 8 + size > bytes.length) {
      if (kept.has(fourcc) && WEBP_PIXEL_DATA.has(fourcc)) out.push(bytes.subarray(pos));
      break;
    }
    if (kept.has(fourcc)) out.push(rewrite(fourcc, bytes.subarray(pos, Math.min(end, bytes.length))));
    pos = end;
  }
  return out.concat();
}

function webpChunk(fourcc: string, data: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.write(fourcc, 0, 'latin1');
  header.writeUInt32LE(data.length, 4);
  return Buffer.concat([header, data, data.length % 2 ? Buffer.alloc(1) : Buffer.alloc(0)]);
}

// ---------------------------------------------------------------------------------------------
// GIF: header, logical screen descriptor, optional global colour table, then blocks: extensions
// (21 label sub-blocks…), images (2C descriptor [colour table] LZW-size sub-blocks…), trailer 3B.

const GIF_TRAILER = 0x3b;
const GIF_TRAILER_BYTES = Buffer.from([GIF_TRAILER]);
const GIF_EXTENSION = 0x21;
const GIF_IMAGE = 0x2c;
const GRAPHIC_CONTROL = 0xf9;
const PLAIN_TEXT = 0x01;
const APPLICATION = 0xff;
/** Application extensions that make an animation loop; any other (XMP, ICC, vendor data) goes. */
const GIF_LOOP_APPS = new Set(['NETSCAPE2.0', 'ANIMEXTS1.0']);

export function stripGif(bytes: Buffer): Buffer {
  const signature = bytes.toString('latin1', 0, 6);
  if (bytes.length < 13 || (signature !== 'GIF87a' && signature !== 'GIF89a')) throw new MalformedImageError('GIF', 'no GIF header');
  let pos = 13 + colourTableLength(bytes[10]);
  if (pos > bytes.length) throw new MalformedImageError('GIF', 'cut in the global colour table');
  const out = new Kept(bytes, 'GIF');
  out.push(bytes.subarray(0, pos));
  while (pos < bytes.length) {
    out.step();
    const introducer = bytes[pos];
    if (introducer === GIF_TRAILER) break; // trailing bytes go
    if (introducer === GIF_EXTENSION) {
      const label = bytes[pos + 1];
      const end = subBlocksEnd(bytes, pos + 2);
      if (end === null) break; // a cut extension is dropped
      if (label === GRAPHIC_CONTROL || label === PLAIN_TEXT || (label === APPLICATION && GIF_LOOP_APPS.has(applicationId(bytes, pos + 2)))) {
        out.push(bytes.subarray(pos, end));
      }
      pos = end;
    } else if (introducer === GIF_IMAGE) {
      if (pos + 10 > bytes.length) break;
      const dataStart = pos + 10 + colourTableLength(bytes[pos + 9]) + 1; // + LZW minimum code size
      const end = dataStart > bytes.length ? null : subBlocksEnd(bytes, dataStart);
      if (end === null) {
        // Cut in the pixel data: the frame is shown as far as it goes.
        if (dataStart <= bytes.length) out.push(bytes.subarray(pos));
        break;
      }
      out.push(bytes.subarray(pos, end));
      pos = end;
    } else {
      throw new MalformedImageError('GIF', `unknown block ${introducer.toString(16)} at byte ${pos}`);
    }
  }
  return out.concat(GIF_TRAILER_BYTES);
}

const colourTableLength = (packed: number): number => (packed & 0x80 ? 3 * 2 ** ((packed & 0x07) + 1) : 0);

/** The end of the sub-blocks starting at `pos` (after their zero terminator), or null when the file is cut first. */
function subBlocksEnd(bytes: Buffer, pos: number): number | null {
  while (pos < bytes.length) {
    const size = bytes[pos];
    if (size === 0) return pos + 1;
    pos += 1 + size;
  }
  return null;
}

/** The 11-byte identifier + authentication code of an application extension's first sub-block. */
function applicationId(bytes: Buffer, pos: number): string {
  return bytes[pos] === 11 ? bytes.toString('latin1', pos + 1, pos + 12) : '';
}

function startsWith(bytes: Buffer, prefix: Buffer): boolean {
  return bytes.length >= prefix.length && bytes.subarray(0, prefix.length).equals(prefix);
}
