import sharp from 'sharp';
import * as fixtures from '../../test/support/media-fixtures';
import { MAX_IMAGE_PARTS, MalformedImageError, stripGif, stripJpeg, stripPng, stripWebp } from './image-metadata';

/** Decoded pixels: a lossless strip must leave them identical. */
const pixels = (image: Buffer, page = 0) => sharp(image, { failOn: 'none', page }).raw().toBuffer();

describe('stripJpeg', () => {
  it('removes EXIF (GPS, camera), XMP, IPTC, comments, MPF and the appended image, and leaves every pixel as it was', async () => {
    const photo = await fixtures.photoWithMetadata('jpeg');
    expect(fixtures.plantedMetadataIn(photo)).toEqual(expect.arrayContaining(['EXIF header', 'camera make', 'planted secret text', 'XMP namespace', 'Photoshop/IPTC block', 'GPS latitude (little-endian)']));
    const stripped = stripJpeg(photo);
    expect(fixtures.plantedMetadataIn(stripped)).toEqual([]);
    expect(stripped.includes(Buffer.from('MPF\0', 'latin1'))).toBe(false);
    expect(stripped.subarray(-2)).toEqual(Buffer.from([0xff, 0xd9]));
    expect((await pixels(stripped)).equals(await pixels(photo))).toBe(true);
    const meta = await sharp(stripped).metadata();
    expect(meta).toMatchObject({ format: 'jpeg', width: 320, height: 240 });
    expect(meta.exif).toBeUndefined();
    expect(meta.xmp).toBeUndefined();
    expect(meta.iptc).toBeUndefined();
    // The colour profile stays: the picture looks the same.
    expect(meta.icc).toBeDefined();
  });

  it('keeps a progressive JPEG’s scans (and the tables between them) intact', async () => {
    const photo = await fixtures.photoWithMetadata('jpeg', { progressive: true });
    const stripped = stripJpeg(photo);
    expect(fixtures.plantedMetadataIn(stripped)).toEqual([]);
    expect((await sharp(stripped).metadata()).isProgressive).toBe(true);
    expect((await pixels(stripped)).equals(await pixels(photo))).toBe(true);
  });

  it('changes nothing in a JPEG that carries no metadata', async () => {
    const plain = await fixtures.image('jpeg');
    expect(stripJpeg(plain).equals(plain)).toBe(true);
  });

  it('keeps the JFIF header but drops its thumbnail, and drops a JFXX thumbnail', async () => {
    const plain = await fixtures.image('jpeg');
    const jfifHeader = Buffer.concat([Buffer.from('JFIF\0', 'latin1'), Buffer.from([1, 1, 1, 0, 72, 0, 72])]);
    const thumbnail = Buffer.alloc(2 * 2 * 3, 0x7f);
    const jfif = fixtures.jpegSegment(0xe0, Buffer.concat([jfifHeader, Buffer.from([2, 2]), thumbnail]));
    const jfxx = fixtures.jpegSegment(0xe0, Buffer.concat([Buffer.from('JFXX\0', 'latin1'), Buffer.from([0x13, 2, 2]), thumbnail]));
    const soi = plain.subarray(0, 2);
    const stripped = stripJpeg(Buffer.concat([soi, jfif, jfxx, plain.subarray(2)]));
    expect(stripped.equals(Buffer.concat([soi, fixtures.jpegSegment(0xe0, Buffer.concat([jfifHeader, Buffer.from([0, 0])])), plain.subarray(2)]))).toBe(true);
  });

  it('copies a truncated scan as far as it goes, closes it with EOI, and it still decodes', async () => {
    const damaged = await fixtures.truncatedPhoto();
    await expect(sharp(damaged, { failOn: 'truncated' }).raw().toBuffer()).rejects.toThrow();
    const stripped = stripJpeg(damaged);
    expect(fixtures.plantedMetadataIn(stripped)).toEqual([]);
    expect(stripped.subarray(-2)).toEqual(Buffer.from([0xff, 0xd9]));
    expect((await pixels(stripped)).equals(await pixels(damaged))).toBe(true);
  });

  it('drops a header segment cut in the middle rather than keeping half of it', async () => {
    const photo = await fixtures.photoWithMetadata('jpeg');
    const exifAt = photo.indexOf(Buffer.from('Exif\0\0', 'latin1'));
    const stripped = stripJpeg(photo.subarray(0, exifAt + 40));
    expect(fixtures.plantedMetadataIn(stripped)).toEqual([]);
  });

  it.each([
    ['no start-of-image marker', Buffer.from('not a jpeg at all')],
    ['garbage between segments', Buffer.from([0xff, 0xd8, 0x12, 0x34, 0xff, 0xd9])],
    ['a segment length below 2', Buffer.from([0xff, 0xd8, 0xff, 0xe1, 0x00, 0x01, 0xff, 0xd9])],
  ])('refuses %s with MalformedImageError', (_, bytes) => {
    expect(() => stripJpeg(bytes)).toThrow(MalformedImageError);
  });
});

describe('stripPng', () => {
  it('removes eXIf, XMP (iTXt), tEXt and tIME chunks, keeps iCCP and every pixel', async () => {
    const photo = await fixtures.photoWithMetadata('png');
    expect(fixtures.plantedMetadataIn(photo)).toEqual(expect.arrayContaining(['PNG eXIf chunk', 'camera make', 'planted secret text']));
    // libvips compresses the XMP iTXt chunk, so it is looked for by its reader, not its bytes.
    expect((await sharp(photo).metadata()).xmp).toBeDefined();
    const stripped = stripPng(photo);
    expect(fixtures.plantedMetadataIn(stripped)).toEqual([]);
    for (const chunk of ['tEXt', 'iTXt', 'tIME']) expect(stripped.includes(Buffer.from(chunk, 'latin1'))).toBe(false);
    expect(stripped.includes(Buffer.from('iCCP', 'latin1'))).toBe(true);
    expect((await pixels(stripped)).equals(await pixels(photo))).toBe(true);
    const meta = await sharp(stripped).metadata();
    expect(meta.exif).toBeUndefined();
    expect(meta.xmp).toBeUndefined();
    expect(meta.comments).toBeUndefined();
  });

  it('drops bytes after IEND and keeps a truncated image’s pixel data', async () => {
    const plain = await fixtures.image('png', 200, 150);
    expect(stripPng(Buffer.concat([plain, Buffer.from(`trailing ${'SECRET-PLACE-4711'}`)])).equals(plain)).toBe(true);
    const cut = plain.subarray(0, plain.length - 30);
    expect(stripPng(cut).equals(cut)).toBe(true);
  });

  it('refuses an unknown critical chunk (it cannot be dropped safely) and a broken chunk header', async () => {
    const plain = await fixtures.image('png');
    expect(() => stripPng(fixtures.withPngChunks(plain, [fixtures.pngChunk('ABCD', Buffer.from('x'))]))).toThrow(MalformedImageError);
    expect(() => stripPng(Buffer.concat([plain.subarray(0, 8), Buffer.from('\0\0\0\x01\x00\x01\x02\x03garbage')]))).toThrow(MalformedImageError);
  });
});

describe('stripWebp', () => {
  it('removes the EXIF and XMP chunks, clears their VP8X flags, fixes the RIFF size, keeps ICC and every pixel', async () => {
    const photo = await fixtures.photoWithMetadata('webp');
    expect(fixtures.plantedMetadataIn(photo)).toEqual(expect.arrayContaining(['camera make', 'planted secret text', 'XMP namespace']));
    const stripped = stripWebp(Buffer.concat([photo, Buffer.from('SECRET-PLACE-4711 past the RIFF end')]));
    expect(fixtures.plantedMetadataIn(stripped)).toEqual([]);
    expect(stripped.readUInt32LE(4)).toBe(stripped.length - 8);
    const flags = stripped[20];
    expect(flags & 0x0c).toBe(0);
    expect(flags & 0x20).toBe(0x20);
    expect((await pixels(stripped)).equals(await pixels(photo))).toBe(true);
    const meta = await sharp(stripped).metadata();
    expect(meta.exif).toBeUndefined();
    expect(meta.xmp).toBeUndefined();
    expect(meta.icc).toBeDefined();
  });

  it('keeps every frame of an animated WebP', async () => {
    const pages = await Promise.all([0, 1, 2].map((i) => sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 80 * i, g: 100, b: 20 } } }).png().toBuffer()));
    const animated = await sharp(pages, { join: { animated: true } }).webp({ lossless: true }).withXmp('<x:xmpmeta xmlns:x="adobe:ns:meta/">SECRET-PLACE-4711</x:xmpmeta>').toBuffer();
    const stripped = stripWebp(animated);
    expect(fixtures.plantedMetadataIn(stripped)).toEqual([]);
    expect(await sharp(stripped).metadata()).toMatchObject({ pages: 3 });
    for (const page of [0, 2]) expect((await pixels(stripped, page)).equals(await pixels(animated, page))).toBe(true);
  });

  it('refuses a file that is not RIFF/WEBP', () => {
    expect(() => stripWebp(Buffer.from('RIFF\x04\0\0\0WAVE', 'latin1'))).toThrow(MalformedImageError);
  });
});

describe('stripGif', () => {
  it('removes comments and XMP application extensions, keeps the loop and every frame', async () => {
    const gif = await fixtures.gifWithMetadata(3);
    expect(fixtures.plantedMetadataIn(gif)).toEqual(expect.arrayContaining(['planted secret text', 'XMP namespace']));
    const stripped = stripGif(gif);
    expect(fixtures.plantedMetadataIn(stripped)).toEqual([]);
    expect(stripped.includes(Buffer.from('NETSCAPE2.0', 'latin1'))).toBe(true);
    expect(await sharp(stripped).metadata()).toMatchObject({ pages: 3, loop: 0 });
    for (const page of [0, 2]) expect((await pixels(stripped, page)).equals(await pixels(gif, page))).toBe(true);
  });

  it('ends a truncated GIF with a trailer and drops bytes after the trailer', async () => {
    const gif = await fixtures.animatedGif(3);
    const cut = stripGif(gif.subarray(0, gif.length - 20));
    expect(cut[cut.length - 1]).toBe(0x3b);
    expect((await sharp(cut, { failOn: 'none' }).metadata()).format).toBe('gif');
    expect(stripGif(Buffer.concat([gif, Buffer.from('SECRET-PLACE-4711')])).equals(gif)).toBe(true);
  });

  it('refuses an unknown block', async () => {
    const gif = await fixtures.animatedGif(2);
    const packed = gif[10];
    const start = 13 + (packed & 0x80 ? 3 * 2 ** ((packed & 0x07) + 1) : 0);
    expect(() => stripGif(Buffer.concat([gif.subarray(0, start), Buffer.from([0x99]), gif.subarray(start)]))).toThrow(MalformedImageError);
  });
});

/**
 * Files of a valid image's head followed by a run of tiny parts: each part used to become a
 * Buffer of its own (a 20 MB run of 2-byte JPEG markers: ~7 s on the event loop and 1.7 GB).
 */
describe('files of very many tiny parts', () => {
  /** `count` copies of `part`, back to back. */
  const run = (part: number[], count: number) => Buffer.from(new Uint8Array(part.length * count).map((_, i) => part[i % part.length]));

  it("keeps a JPEG's run of standalone markers under the cap as it was, and refuses a longer one", async () => {
    const plain = await fixtures.image('jpeg');
    const open = plain.subarray(0, plain.length - 2); // its EOI cut off: the markers follow the scan
    const markers = run([0xff, 0x01], 50_000);
    expect(stripJpeg(Buffer.concat([open, markers])).equals(Buffer.concat([open, markers, Buffer.from([0xff, 0xd9])]))).toBe(true);
    expect(() => stripJpeg(Buffer.concat([open, run([0xff, 0x01], MAX_IMAGE_PARTS + 1)]))).toThrow(MalformedImageError);
  });

  it('refuses a PNG of more chunks than the cap', async () => {
    const plain = await fixtures.image('png');
    const gamma = fixtures.pngChunk('gAMA', Buffer.from([0, 0, 0xb1, 0x8f]));
    expect(() => stripPng(fixtures.withPngChunks(plain, Array.from({ length: MAX_IMAGE_PARTS }, () => gamma)))).toThrow(MalformedImageError);
  });

  it('refuses a GIF of more blocks than the cap', async () => {
    const gif = await fixtures.animatedGif(2);
    const packed = gif[10];
    const start = 13 + (packed & 0x80 ? 3 * 2 ** ((packed & 0x07) + 1) : 0);
    const graphicControl = [0x21, 0xf9, 0x04, 0, 0, 0, 0, 0];
    const few = Buffer.concat([gif.subarray(0, start), run(graphicControl, 1_000), gif.subarray(start)]);
    expect(stripGif(few).equals(few)).toBe(true);
    expect(() => stripGif(Buffer.concat([gif.subarray(0, start), run(graphicControl, MAX_IMAGE_PARTS + 1), gif.subarray(start)]))).toThrow(MalformedImageError);
  });
});
