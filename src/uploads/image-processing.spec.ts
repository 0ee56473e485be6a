import sharp from 'sharp';
import * as fixtures from '../../test/support/media-fixtures';
import { AppError } from '../core/errors';
import { WorkSlots, withoutMetadata } from './image-processing';

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

  it('keeps an animated GIF whose container does not parse as its first frame, not re-encoding every frame in the request', async () => {
    const gif = await fixtures.animatedGif(6);
    // An unknown block byte before the trailer: decoders skip it, the block walker refuses.
    const odd = Buffer.concat([gif.subarray(0, gif.length - 1), Buffer.from([0x99, 0x3b])]);
    expect((await sharp(odd, { animated: true, failOn: 'none' }).metadata()).pages).toBeGreaterThan(1);
    const clean = await withoutMetadata(odd, 'gif', 1);
    const meta = await sharp(clean, { animated: true }).metadata();
    expect(meta).toMatchObject({ format: 'gif', width: 40, height: 30 });
    expect(meta.pages ?? 1).toBe(1);
  });

  it('refuses with INVALID_IMAGE what it can neither walk nor decode, rather than keep it', async () => {
    const broken = Buffer.concat([Buffer.from([0xff, 0xd8, 0x00, 0x00]), Buffer.from('Exif\0\0SECRET-PLACE-4711')]);
    await expect(withoutMetadata(broken, 'jpg', 1)).rejects.toThrow(AppError);
    await expect(withoutMetadata(broken, 'jpg', 1)).rejects.toMatchObject({ code: 'INVALID_IMAGE' });
  });
});

describe('WorkSlots', () => {
  const gate = () => {
    let open!: () => void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    return { open, opened };
  };

  it('runs at most its size at once, the rest in arrival order as slots free, and frees a slot whose work failed', async () => {
    const slots = new WorkSlots(2);
    const started: number[] = [];
    const gates = [gate(), gate(), gate(), gate()];
    const runs = gates.map((g, i) =>
      slots.run(async () => {
        started.push(i);
        await g.opened;
        if (i === 0) throw new Error('broken image');
        return i;
      }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    expect(started).toEqual([0, 1]);
    gates[0].open();
    await expect(runs[0]).rejects.toThrow('broken image');
    expect(started).toEqual([0, 1, 2]);
    gates[2].open();
    expect(await runs[2]).toBe(2);
    expect(started).toEqual([0, 1, 2, 3]);
    gates[1].open();
    gates[3].open();
    expect(await Promise.all([runs[1], runs[3]])).toEqual([1, 3]);
  });

  it('answers SERVICE_UNAVAILABLE to a request past the waiting limit, and lets background work wait', async () => {
    const slots = new WorkSlots(1);
    const g = gate();
    const busy = slots.run(() => g.opened);
    const waiting = slots.run(async () => 'waited', { maxWaiting: 1 });
    await expect(slots.run(async () => 'refused', { maxWaiting: 1 })).rejects.toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
    const job = slots.run(async () => 'job');
    g.open();
    expect(await Promise.all([busy, waiting, job])).toEqual([undefined, 'waited', 'job']);
  });
});
