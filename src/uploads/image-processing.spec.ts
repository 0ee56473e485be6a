import sharp from 'sharp';
import * as fixtures from '../../test/support/media-fixtures';
import { AppError } from '../core/errors';
import { withoutMetadata } from './image-processing';

const pixels = (image: Buffer) => sharp(image, { failOn: 'none' }).raw().toBuffer();

describe('withoutMetadata', () => {
  it.each([
    ['jpg', () => fixtures.photoWithMetadata('jpeg')],
    ['png', () => fixtures.photoWithMetadata('png')],
    ['webp', () => fixtures.photoWithMetadata('webp')],
    ['gif', () => fixtures.gifWithMetadata()],
    ['jpg', () => fixtures.truncatedPhoto()],
  ])('strips a .%s losslessly when it needs no turning', async (ext, make) => {
    const photo = await make();
    const clean = await withoutMetadata(photo, ext, 1);
    expect(fixtures.plantedMetadataIn(clean)).toEqual([]);
    expect((await pixels(clean)).equals(await pixels(photo))).toBe(true);
  });

  it('turns an EXIF-oriented photo upright by re-encoding it, in its own format and with no EXIF left', async () => {
    const photo = await fixtures.photoWithMetadata('jpeg', { width: 320, height: 240, orientation: 6 });
    const clean = await withoutMetadata(photo, 'jpg', 6);
    expect(fixtures.plantedMetadataIn(clean)).toEqual([]);
    const meta = await sharp(clean).metadata();
    expect(meta).toMatchObject({ format: 'jpeg', width: 240, height: 320 });
    expect(meta.exif).toBeUndefined();
    expect(meta.orientation).toBeUndefined();
    expect(meta.icc).toBeDefined();
  });

  it('re-encodes a JPEG whose container does not parse but whose pixels decode', async () => {
    const photo = await fixtures.photoWithMetadata('jpeg', { trailer: false });
    const sosAt = photo.indexOf(Buffer.from([0xff, 0xda]));
    // Stray bytes before a marker: libjpeg warns and goes on; the segment walker refuses.
    const odd = Buffer.concat([photo.subarray(0, sosAt), Buffer.from([0x00, 0x00]), photo.subarray(sosAt)]);
    const clean = await withoutMetadata(odd, 'jpg', 1);
    expect(fixtures.plantedMetadataIn(clean)).toEqual([]);
    expect(await sharp(clean).metadata()).toMatchObject({ format: 'jpeg', width: 320, height: 240 });
  });

  it('refuses with INVALID_IMAGE what it can neither walk nor decode, rather than keep it', async () => {
    const broken = Buffer.concat([Buffer.from([0xff, 0xd8, 0x00, 0x00]), Buffer.from('Exif\0\0SECRET-PLACE-4711')]);
    await expect(withoutMetadata(broken, 'jpg', 1)).rejects.toThrow(AppError);
    await expect(withoutMetadata(broken, 'jpg', 1)).rejects.toMatchObject({ code: 'INVALID_IMAGE' });
  });
});
