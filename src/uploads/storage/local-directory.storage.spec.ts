import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppConfig } from '../../core/config/app-config';
import { LocalDirectoryStorage, StorageError } from './local-directory.storage';

describe('LocalDirectoryStorage, when the file system fails', () => {
  const name = '1a-sBBmIS3E_UymhOmXmCw.png';
  let root: string;
  let storage: LocalDirectoryStorage;

  beforeEach(async () => {
    root = mkdtempSync(join(tmpdir(), 'h2v-storage-'));
    storage = new LocalDirectoryStorage({ values: { uploadDir: root } } as AppConfig);
    await storage.onModuleInit();
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  /** The rejection of `call`, which must be one. */
  const failure = (call: Promise<unknown>): Promise<StorageError> => call.then(() => Promise.reject(new Error('resolved')), (error: StorageError) => error);

  it("names the operation and the area, never the stored name (a capability) nor the path, and keeps the error's code", async () => {
    // The thumbnails' directory replaced by a plain file: every write and read under it is ENOTDIR.
    rmSync(join(root, 'thumbs'), { recursive: true });
    writeFileSync(join(root, 'thumbs'), '');
    const failures = [
      await failure(storage.put(`thumbs/${name}`, Buffer.from('bytes'))),
      await failure(storage.size(`thumbs/${name}`)),
      await failure(storage.stream(`thumbs/${name}`)),
      await failure(storage.delete(`thumbs/${name}`)),
    ];
    expect(failures.map((error) => [error.message, error.code, error.syscall])).toEqual([
      ['ENOTDIR: rename into UPLOAD_DIR/thumbs', 'ENOTDIR', 'rename'],
      ['ENOTDIR: stat in UPLOAD_DIR/thumbs', 'ENOTDIR', 'stat'],
      ['ENOTDIR: open in UPLOAD_DIR/thumbs', 'ENOTDIR', 'open'],
      ['ENOTDIR: unlink in UPLOAD_DIR/thumbs', 'ENOTDIR', 'unlink'],
    ]);
    for (const error of failures) {
      expect(error).toBeInstanceOf(StorageError);
      expect(typeof error.errno).toBe('number');
      expect(`${error.message}\n${error.stack}`).not.toContain(name);
      expect(`${error.message}\n${error.stack}`).not.toContain(root);
    }
  });

  it('still tells a missing file by its code: ENOENT (a stream refused, a size null, a delete done)', async () => {
    const missing = await failure(storage.stream(name));
    expect([missing.message, missing.code]).toEqual(['ENOENT: open in UPLOAD_DIR', 'ENOENT']);
    expect(await storage.size(`medium/${name}`)).toBeNull();
    await expect(storage.delete(`originals/${name}`)).resolves.toBeUndefined();
  });
});
