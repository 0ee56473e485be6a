import { crc32 } from 'node:zlib';
import sharp from 'sharp';

/**
 * Small real files of every supported format, made in memory (no binaries in the repository):
 * images by sharp, the rest as minimal valid containers built byte by byte.
 */

export function image(format: 'jpeg' | 'png' | 'gif' | 'webp', width = 64, height = 48): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 60, b: 20 } } })
    [format]()
    .toBuffer();
}

/** A JPEG of noise (so it does not compress away) of about `bytes` bytes. */
export async function noisyJpeg(bytes: number): Promise<Buffer> {
  const side = Math.ceil(Math.sqrt(bytes / 1.2));
  const raw = Buffer.alloc(side * side * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 2654435761) >>> 24;
  return sharp(raw, { raw: { width: side, height: side, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
}

/** An animated GIF of `frames` frames. */
export async function animatedGif(frames = 3, width = 40, height = 30): Promise<Buffer> {
  const pages = await Promise.all(
    Array.from({ length: frames }, (_, i) => sharp({ create: { width, height, channels: 3, background: { r: 80 * i, g: 100, b: 255 - 80 * i } } }).png().toBuffer()),
  );
  return sharp(pages, { join: { animated: true } }).gif({ delay: 100, loop: 0 }).toBuffer();
}

/**
 * Byte patterns of the metadata that `photoWithMetadata` and `gifWithMetadata` plant: a file
 * served to anyone must contain none of them. The GPS one is the latitude's seconds (29.64″),
 * an EXIF rational in either byte order.
 */
export const PLANTED_METADATA: Readonly<Record<string, Buffer>> = {
  'EXIF header': Buffer.from('Exif\0\0', 'latin1'),
  'PNG eXIf chunk': Buffer.from('eXIf', 'latin1'),
  'camera make': Buffer.from('SpyCam-9000', 'latin1'),
  'planted secret text': Buffer.from('SECRET-PLACE-4711', 'latin1'),
  'XMP namespace': Buffer.from('http://ns.adobe.com/', 'latin1'),
  'Photoshop/IPTC block': Buffer.from('8BIM', 'latin1'),
  'GPS latitude (little-endian)': Buffer.from('940b000064000000', 'hex'),
  'GPS latitude (big-endian)': Buffer.from('00000b9400000064', 'hex'),
};

/** The names of the planted patterns found anywhere in `bytes` (empty when the file is clean). */
export function plantedMetadataIn(bytes: Buffer): string[] {
  return Object.entries(PLANTED_METADATA)
    .filter(([, pattern]) => bytes.includes(pattern))
    .map(([name]) => name);
}

const SECRET = 'SECRET-PLACE-4711';
const GPS_EXIF = {
  IFD0: { Make: 'SpyCam-9000', Model: 'X', ImageDescription: SECRET },
  IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 2964/100', GPSLongitudeRef: 'E', GPSLongitude: '2/1 21/1 769/100' },
};
const XMP = `<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="48,51.494N"><exif:UserComment>${SECRET}</exif:UserComment></rdf:Description></rdf:RDF></x:xmpmeta>`;

/** Pixels of noise, so that a photo's entropy-coded data is long and a lossy re-encode shows. */
function noise(width: number, height: number): Buffer {
  const raw = Buffer.alloc(width * height * 3);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 2654435761) >>> 24;
  return raw;
}

/**
 * A photo as a phone writes it: EXIF with camera and GPS tags, XMP, a Display P3 ICC profile,
 * and an EXIF orientation when given. A JPEG also gets an IPTC (Photoshop APP13) block, a
 * comment, an MPF APP2 segment and a second JPEG with its own EXIF after the end of the image
 * (how phones append depth maps and previews); `trailer: false` leaves the last two out.
 */
export async function photoWithMetadata(
  format: 'jpeg' | 'png' | 'webp',
  options: { width?: number; height?: number; orientation?: number; progressive?: boolean; trailer?: boolean } = {},
): Promise<Buffer> {
  const { width = 320, height = 240 } = options;
  let image = sharp(noise(width, height), { raw: { width, height, channels: 3 } });
  image = format === 'jpeg' ? image.jpeg({ quality: 90, progressive: options.progressive }) : format === 'png' ? image.png() : image.webp({ quality: 90 });
  image = image.withExif(GPS_EXIF).withXmp(XMP).withIccProfile('p3');
  if (options.orientation) image = image.withMetadata({ orientation: options.orientation });
  const bytes = await image.toBuffer();
  if (format === 'png') return withPngChunks(bytes, [pngChunk('tEXt', Buffer.from(`Comment\0${SECRET}`, 'latin1')), pngChunk('tIME', Buffer.from([7, 234, 11, 30, 12, 0, 0]))]);
  if (format !== 'jpeg') return bytes;
  const trailer = options.trailer ?? true;
  const extras = [jpegSegment(0xed, photoshopIptc(SECRET)), jpegSegment(0xfe, Buffer.from(`shot at ${SECRET}`, 'latin1'))];
  if (trailer) extras.push(jpegSegment(0xe2, Buffer.concat([Buffer.from('MPF\0II*\0', 'latin1'), Buffer.alloc(8)])));
  // Before the first quantisation table, after sharp's own APP segments.
  const at = bytes.indexOf(Buffer.from([0xff, 0xdb]));
  const main = Buffer.concat([bytes.subarray(0, at), ...extras, bytes.subarray(at)]);
  if (!trailer) return main;
  const secondary = await sharp(noise(64, 48), { raw: { width: 64, height: 48, channels: 3 } }).jpeg().withExif(GPS_EXIF).toBuffer();
  return Buffer.concat([main, secondary]);
}

/** The GPS-tagged JPEG of `photoWithMetadata` with its last 200 bytes missing, as an interrupted transfer leaves it. */
export async function truncatedPhoto(): Promise<Buffer> {
  const whole = await photoWithMetadata('jpeg', { trailer: false });
  return whole.subarray(0, whole.length - 200);
}

/** An animated GIF with a comment and an XMP application extension before its frames. */
export async function gifWithMetadata(frames = 3): Promise<Buffer> {
  const gif = await animatedGif(frames);
  const packed = gif[10];
  const start = 13 + (packed & 0x80 ? 3 * 2 ** ((packed & 0x07) + 1) : 0);
  const comment = Buffer.concat([Buffer.from([0x21, 0xfe]), subBlocks(Buffer.from(`taken at ${SECRET}`, 'latin1'))]);
  const xmp = Buffer.concat([Buffer.from([0x21, 0xff, 11]), Buffer.from('XMP DataXMP', 'latin1'), subBlocks(Buffer.from(XMP, 'utf8'))]);
  return Buffer.concat([gif.subarray(0, start), comment, xmp, gif.subarray(start)]);
}

function subBlocks(data: Buffer): Buffer {
  const parts: Buffer[] = [];
  for (let i = 0; i < data.length; i += 255) {
    const part = data.subarray(i, i + 255);
    parts.push(Buffer.from([part.length]), part);
  }
  return Buffer.concat([...parts, Buffer.from([0])]);
}

export function jpegSegment(marker: number, payload: Buffer): Buffer {
  const header = Buffer.from([0xff, marker, 0, 0]);
  header.writeUInt16BE(payload.length + 2, 2);
  return Buffer.concat([header, payload]);
}

/** A Photoshop image resource block holding an IPTC record with a sub-location (2:92). */
function photoshopIptc(text: string): Buffer {
  const value = Buffer.from(text, 'latin1');
  const record = Buffer.concat([Buffer.from([0x1c, 0x02, 0x5c, value.length >> 8, value.length & 0xff]), value]);
  const size = Buffer.alloc(4);
  size.writeUInt32BE(record.length);
  const padding = Buffer.alloc(record.length % 2);
  return Buffer.concat([Buffer.from('Photoshop 3.0\0', 'latin1'), Buffer.from('8BIM', 'latin1'), Buffer.from([0x04, 0x04, 0, 0]), size, record, padding]);
}

/** The PNG with `chunks` inserted before its IEND. */
export function withPngChunks(png: Buffer, chunks: Buffer[]): Buffer {
  return Buffer.concat([png.subarray(0, png.length - 12), ...chunks, png.subarray(png.length - 12)]);
}

/** A PNG header claiming `width`×`height` with no pixel data: the shape of a decompression bomb. */
export function pngHeaderOnly(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), pngChunk('IHDR', ihdr), pngChunk('IDAT', Buffer.from([0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01])), pngChunk('IEND', Buffer.alloc(0))]);
}

/**
 * A WebP whose container and VP8 frame header are fine and whose bitstream is garbage: its size
 * reads, its pixels do not decode even when damage is tolerated (a garbage PNG decodes as black).
 */
export async function corruptWebp(width = 64, height = 48): Promise<Buffer> {
  const webp = Buffer.from(await image('webp', width, height));
  webp.fill(0xff, 40);
  return webp;
}

export function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

export const pdf = (): Buffer =>
  Buffer.from('%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n');

export const text = (): Buffer => Buffer.from('Hello, H2V!\nПривет — ünïcödé ✓\n', 'utf8');

/** A stored (uncompressed) ZIP archive with the given entries. */
export function zip(entries: Record<string, string>): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const [name, content] of Object.entries(entries)) {
    const nameBytes = Buffer.from(name, 'utf8');
    const data = Buffer.from(content, 'utf8');
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(data.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE(20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(data.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(nameBytes.length, 28);
    central.writeUInt32LE(offset, 42);
    locals.push(local, nameBytes, data);
    centrals.push(central, nameBytes);
    offset += local.length + nameBytes.length + data.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(centrals.length / 2, 8);
  end.writeUInt16LE(centrals.length / 2, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}

export const docx = (): Buffer =>
  zip({
    '[Content_Types].xml':
      '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
      '<Default Extension="xml" ContentType="application/xml"/>' +
      '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
    'word/document.xml': '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body/></w:document>',
  });

/** An ID3v2 tag followed by MPEG-1 Layer III frames. */
export function mp3(): Buffer {
  const id3 = Buffer.from([0x49, 0x44, 0x33, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
  const frame = Buffer.alloc(417);
  frame.set([0xff, 0xfb, 0x90, 0x64]);
  return Buffer.concat([id3, frame, frame, frame]);
}

/** One Ogg page carrying a Vorbis identification header. */
export function ogg(): Buffer {
  const packet = Buffer.concat([Buffer.from('\x01vorbis', 'latin1'), Buffer.alloc(23)]);
  const header = Buffer.alloc(27);
  header.write('OggS', 0, 'latin1');
  header[5] = 0x02;
  header.writeUInt32LE(1, 14);
  header[26] = 1;
  return Buffer.concat([header, Buffer.from([packet.length]), packet]);
}

/** An ISO-BMFF file: `ftyp` (isom) and an empty `mdat`. */
export function mp4(): Buffer {
  const ftyp = Buffer.alloc(24);
  ftyp.writeUInt32BE(24, 0);
  ftyp.write('ftypisom', 4, 'latin1');
  ftyp.writeUInt32BE(0x200, 12);
  ftyp.write('isommp41', 16, 'latin1');
  const mdat = Buffer.alloc(16);
  mdat.writeUInt32BE(16, 0);
  mdat.write('mdat', 4, 'latin1');
  return Buffer.concat([ftyp, mdat]);
}

/** A WebM (EBML header, Segment, Tracks) with one track per entry: 1 = video, 2 = audio. */
export function webm(trackTypes: number[]): Buffer {
  const el = (id: number[], payload: Buffer): Buffer => Buffer.concat([Buffer.from(id), ebmlSize(payload.length), payload]);
  const header = el(
    [0x1a, 0x45, 0xdf, 0xa3],
    Buffer.concat([el([0x42, 0x86], Buffer.from([1])), el([0x42, 0xf7], Buffer.from([1])), el([0x42, 0x82], Buffer.from('webm')), el([0x42, 0x87], Buffer.from([4])), el([0x42, 0x85], Buffer.from([2]))]),
  );
  const entries = trackTypes.map((type, i) =>
    el([0xae], Buffer.concat([el([0xd7], Buffer.from([i + 1])), el([0x83], Buffer.from([type])), el([0x86], Buffer.from(type === 1 ? 'V_VP8' : 'A_OPUS'))])),
  );
  const info = el([0x15, 0x49, 0xa9, 0x66], el([0x2a, 0xd7, 0xb1], Buffer.from([0x0f, 0x42, 0x40])));
  const tracks = el([0x16, 0x54, 0xae, 0x6b], Buffer.concat(entries));
  // Unknown-size Segment, as MediaRecorder writes it.
  const segment = Buffer.concat([Buffer.from([0x18, 0x53, 0x80, 0x67, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), info, tracks]);
  return Buffer.concat([header, segment]);
}

function ebmlSize(size: number): Buffer {
  if (size < 0x7f) return Buffer.from([0x80 | size]);
  return Buffer.from([0x40 | (size >> 8), size & 0xff]);
}

/** A Compound File (OLE2) with a root storage and one stream named `stream` (WordDocument makes a DOC). */
export function compoundFile(stream = 'WordDocument'): Buffer {
  const sector = 512;
  const header = Buffer.alloc(sector, 0);
  Buffer.from('d0cf11e0a1b11ae1', 'hex').copy(header, 0);
  header.writeUInt16LE(0x3e, 0x18);
  header.writeUInt16LE(3, 0x1a);
  header.writeUInt16LE(0xfffe, 0x1c);
  header.writeUInt16LE(9, 0x1e);
  header.writeUInt16LE(6, 0x20);
  header.writeUInt32LE(1, 0x2c); // one FAT sector
  header.writeUInt32LE(1, 0x30); // directory starts in sector 1
  header.writeUInt32LE(4096, 0x38);
  header.writeUInt32LE(0xfffffffe, 0x3c);
  header.writeUInt32LE(0xfffffffe, 0x44);
  for (let i = 0; i < 109; i++) header.writeUInt32LE(i === 0 ? 0 : 0xffffffff, 0x4c + i * 4);
  const fat = Buffer.alloc(sector, 0xff);
  fat.writeUInt32LE(0xfffffffd, 0); // sector 0 holds the FAT
  fat.writeUInt32LE(0xfffffffe, 4); // sector 1: the directory, one sector long
  const directory = Buffer.alloc(sector, 0);
  const entry = (index: number, name: string, type: number) => {
    const at = index * 128;
    directory.write(name, at, 'utf16le');
    directory.writeUInt16LE((name.length + 1) * 2, at + 0x40);
    directory[at + 0x42] = type;
    directory.writeUInt32LE(0xffffffff, at + 0x44);
    directory.writeUInt32LE(0xffffffff, at + 0x48);
    directory.writeUInt32LE(index === 0 ? 1 : 0xffffffff, at + 0x4c);
    directory.writeUInt32LE(0xfffffffe, at + 0x74);
  };
  entry(0, 'Root Entry', 5);
  entry(1, stream, 2);
  return Buffer.concat([header, fat, directory]);
}

/** The start of a Linux executable. */
export function elf(): Buffer {
  const buf = Buffer.alloc(256);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00]).copy(buf);
  buf.writeUInt16LE(2, 16);
  buf.writeUInt16LE(0x3e, 18);
  return buf;
}
