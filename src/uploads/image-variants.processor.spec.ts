import sharp from 'sharp';
import { Readable } from 'node:stream';
import { ImageVariantsProcessor } from './image-variants.processor';
import { FileStorage } from './storage/file-storage';
import { UploadsRepository } from './uploads.repository';

/** Files in memory; the optimised original's write (the third) fails as a full disk would. */
class Storage {
  readonly files = new Map<string, Buffer>();
  async put(key: string, source: Buffer): Promise<void> {
    if (key === 'p.webp' && this.files.has('thumbs/p.webp')) throw new Error('ENOSPC: no space left on device');
    this.files.set(key, source);
  }
  async stream(key: string): Promise<Readable> {
    return Readable.from([this.files.get(key)!]);
  }
  async exists(key: string): Promise<boolean> {
    return this.files.has(key);
  }
  async delete(key: string): Promise<void> {
    this.files.delete(key);
  }
}

describe('ImageVariantsProcessor, when a variant cannot be written', () => {
  const upload = { id: 'u1', kind: 'IMAGE', variants: 'pending', storedName: 'p.webp', mime: 'image/png' };

  async function run(rowAfterwards: boolean) {
    const storage = new Storage();
    storage.files.set('originals/p.webp', await sharp({ create: { width: 40, height: 30, channels: 3, background: '#369' } }).png().toBuffer());
    let reads = 0;
    // The upload's row: there when the job starts; afterwards as the case says (deleted meanwhile, or not).
    const uploads = { findById: async () => (reads++ === 0 || rowAfterwards ? upload : null), setVariants: async () => rowAfterwards };
    const processor = new ImageVariantsProcessor(uploads as unknown as UploadsRepository, storage as unknown as FileStorage);
    const outcome = await processor.makeVariants({ uploadId: 'u1' }).then(
      () => 'done',
      (error: Error) => error.message,
    );
    return { outcome, files: [...storage.files.keys()].sort() };
  }

  it('fails (to be retried) and leaves the files for the retry while the upload is there', async () => {
    expect(await run(true)).toEqual({ outcome: 'ENOSPC: no space left on device', files: ['medium/p.webp', 'originals/p.webp', 'thumbs/p.webp'] });
  });

  it('removes what it wrote, and the original, when the upload was deleted meanwhile (nobody else would)', async () => {
    expect(await run(false)).toEqual({ outcome: 'done', files: [] });
  });
});
