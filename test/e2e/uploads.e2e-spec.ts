import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import { EnqueuedJob, EnqueueOptions, JobQueue } from '../../src/jobs/job-queue';
import { MAX_ENCRYPTED_BYTES, UploadsService } from '../../src/uploads/uploads.service';
import { connect, openDirect, send } from '../support/chats';
import { eventually, signUp, TestUser } from '../support/factories';
import * as fixtures from '../support/media-fixtures';
import { fetchDigest, streamUpload } from '../support/streamed-upload';
import { createBackend, createTestApp, TestApp } from '../support/test-app';

/** Supertest buffers binary bodies of unknown types only when asked to. */
const binary = (res: any, done: (error: Error | null, body: Buffer) => void) => {
  const chunks: Buffer[] = [];
  res.on('data', (chunk: Buffer) => chunks.push(chunk));
  res.on('end', () => done(null, Buffer.concat(chunks)));
};

describe('uploads', () => {
  let t: TestApp;
  let uploadDir: string;
  beforeAll(async () => {
    t = await createTestApp();
    uploadDir = join(t.backend.env.DATA_DIR!, 'uploads');
  });
  afterAll(() => t.close());

  const upload = (user: TestUser, bytes: Buffer, filename: string, route = '/api/upload') =>
    t.http().post(route).set(user.auth).attach('file', bytes, filename);
  const fetch = (url: string) => t.http().get(url).buffer(true).parse(binary);
  const storedFiles = (): string[] => {
    const walk = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((entry) => (entry.isDirectory() ? walk(join(dir, entry.name)) : [relative(uploadDir, join(dir, entry.name))]));
    return walk(uploadDir).sort();
  };
  const nameOf = (url: string) => url.split('/').pop()!;
  /** The stored forms of an image: as kept, optimised, medium, thumbnail. */
  const storedBytesOf = (name: string): Buffer[] => [`originals/${name}`, name, `medium/${name}`, `thumbs/${name}`].map((key) => readFileSync(join(uploadDir, key)));
  /** Holds back image-variants jobs, so a test can look at what is served before they run. */
  const holdVariants = () => {
    const queue = t.app.get(JobQueue);
    const held: Array<() => Promise<unknown>> = [];
    const add = queue.add.bind(queue) as (name: string, data: unknown, options?: EnqueueOptions) => Promise<EnqueuedJob>;
    const spy = jest.spyOn(queue, 'add').mockImplementation(async (name: string, data: unknown, options?: EnqueueOptions) => {
      if (name !== 'image-variants') return add(name, data, options);
      held.push(() => add(name, data, options));
      return { id: 'held', waitForOutcome: async () => 'pending' as const };
    });
    return {
      held,
      release: async () => {
        spy.mockRestore();
        for (const run of held) await run();
        await t.drainJobs();
      },
      restore: () => spy.mockRestore(),
    };
  };

  describe('POST /api/upload', () => {
    it.each([
      ['photo.jpg', 'IMAGE', 'jpg', 'image/jpeg', () => fixtures.image('jpeg')],
      ['photo.png', 'IMAGE', 'png', 'image/png', () => fixtures.image('png')],
      ['anim.gif', 'IMAGE', 'gif', 'image/gif', () => fixtures.animatedGif()],
      ['photo.webp', 'IMAGE', 'webp', 'image/webp', () => fixtures.image('webp')],
      ['clip.mp4', 'VIDEO', 'mp4', 'video/mp4', async () => fixtures.mp4()],
      ['clip.webm', 'VIDEO', 'webm', 'video/webm', async () => fixtures.webm([1, 2])],
      ['voice.webm', 'AUDIO', 'weba', 'audio/webm', async () => fixtures.webm([2])],
      ['song.mp3', 'AUDIO', 'mp3', 'audio/mpeg', async () => fixtures.mp3()],
      ['song.ogg', 'AUDIO', 'ogg', 'audio/ogg', async () => fixtures.ogg()],
      ['paper.pdf', 'FILE', 'pdf', 'application/pdf', async () => fixtures.pdf()],
      ['notes.txt', 'FILE', 'txt', 'text/plain; charset=utf-8', async () => fixtures.text()],
      ['bundle.zip', 'FILE', 'zip', 'application/zip', async () => fixtures.zip({ 'readme.txt': 'hello' })],
      ['letter.doc', 'FILE', 'doc', 'application/msword', async () => fixtures.compoundFile('WordDocument')],
      ['letter.docx', 'FILE', 'docx', 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', async () => fixtures.docx()],
    ])('accepts %s as %s (.%s, %s) and serves it back as uploaded', async (filename, type, ext, mime, make) => {
      const user = await signUp(t);
      const bytes = await make();
      const res = await upload(user, bytes, filename).expect(201);
      expect(res.body.data).toMatchObject({ type, name: filename, size: bytes.length, url: expect.stringMatching(new RegExp(`^/uploads/[A-Za-z0-9_-]{22}\\.${ext}$`)) });
      expect(nameOf(res.body.data.url)).not.toContain(filename.split('.')[0]);
      if (type === 'IMAGE') {
        const name = nameOf(res.body.data.url);
        expect(res.body.data).toMatchObject({ mediumUrl: `/uploads/medium/${name}`, thumbUrl: `/uploads/thumbs/${name}` });
      } else {
        expect(res.body.data).not.toHaveProperty('thumbUrl');
        const served = await fetch(res.body.data.url).expect(200);
        expect(served.headers['content-type']).toBe(mime);
        expect(Buffer.compare(served.body, bytes)).toBe(0);
      }
    });

    it('records the owner, the client name and the kind of every upload', async () => {
      const user = await signUp(t);
      const res = await upload(user, fixtures.pdf(), 'Отчёт 2026.pdf').expect(201);
      expect(res.body.data.name).toBe('Отчёт 2026.pdf');
      const [row] = await t.backend.sql('SELECT owner_id, original_name, kind, mime, size FROM uploads WHERE stored_name = $1', [nameOf(res.body.data.url)]);
      expect(row).toEqual({ owner_id: user.id, original_name: 'Отчёт 2026.pdf', kind: 'FILE', mime: 'application/pdf', size: fixtures.pdf().length });
    });

    it('keeps a client file name well-formed, as stored: a lone surrogate from a UTF-16 filename* becomes U+FFFD, never a 500', async () => {
      const user = await signUp(t);
      // busboy decodes filename* in UTF-16 as is: "é", a lone low surrogate, "é".
      const boundary = 'h2vBoundary';
      const body = Buffer.concat([
        Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename*=utf-16le''%E9%00%00%DC%E9%00\r\nContent-Type: text/plain\r\n\r\n`),
        fixtures.text(),
        Buffer.from(`\r\n--${boundary}--\r\n`),
      ]);
      const res = await t.http().post('/api/upload').set(user.auth).set('Content-Type', `multipart/form-data; boundary=${boundary}`).send(body);
      expect(res.status).toBe(201);
      expect(res.body.data.name).toBe('\u00e9\ufffd\u00e9');
      const [row] = await t.backend.sql('SELECT original_name FROM uploads WHERE stored_name = $1', [nameOf(res.body.data.url)]);
      expect(row.original_name).toBe('\u00e9\ufffd\u00e9');
    });

    it('keeps of a mediaName sent with a message what an upload keeps of its name: no path, controls or bidi overrides', async () => {
      const [a, b] = [await signUp(t), await signUp(t)];
      const url = (await upload(a, fixtures.pdf(), 'ok.pdf').expect(201)).body.data.url;
      const chatId = await openDirect(t, a, b);
      const ws = await connect(t, a);
      const sent = await send(ws, chatId, '', { type: 'FILE', mediaUrl: url, mediaName: '../../../.bashrc\r\n\u202Egnp.exe\u0007' });
      expect(sent.mediaName).toBe('.bashrcgnp.exe');
      expect((await send(ws, chatId, '', { type: 'FILE', mediaUrl: url, mediaName: '\u202E/' })).mediaName).toBe('ok.pdf');
      expect(await t.backend.sql('SELECT media_name FROM messages WHERE chat_id = $1 ORDER BY seq', [chatId])).toEqual([{ media_name: '.bashrcgnp.exe' }, { media_name: 'ok.pdf' }]);
      ws.close();
    });

    it('types a PNG named .pdf by its bytes: an IMAGE stored as .png', async () => {
      const user = await signUp(t);
      const res = await upload(user, await fixtures.image('png'), 'invoice.pdf').expect(201);
      expect(res.body.data).toMatchObject({ type: 'IMAGE', name: 'invoice.pdf', url: expect.stringMatching(/\.png$/) });
    });

    it('refuses an executable named .jpg with 415 UNSUPPORTED_FILE_TYPE and keeps nothing', async () => {
      const user = await signUp(t);
      await t.drainJobs();
      const before = storedFiles();
      const res = await upload(user, fixtures.elf(), 'cat.jpg').expect(415);
      expect(res.body).toMatchObject({ success: false, code: 'UNSUPPORTED_FILE_TYPE' });
      expect(storedFiles()).toEqual(before);
      expect(await t.backend.sql('SELECT 1 FROM uploads WHERE owner_id = $1', [user.id])).toHaveLength(0);
    });

    it('refuses a shell script named .jpg (text where an image is claimed) with 415', async () => {
      const user = await signUp(t);
      await upload(user, Buffer.from('#!/bin/sh\necho pwned\n'), 'cat.jpg').expect(415);
    });

    it('refuses 21 MB with 413 FILE_TOO_LARGE and leaves no file behind', async () => {
      const user = await signUp(t);
      await t.drainJobs();
      const before = storedFiles();
      const res = await upload(user, Buffer.alloc(21 * 1024 * 1024, 0x61), 'big.txt').expect(413);
      expect(res.body).toMatchObject({ success: false, code: 'FILE_TOO_LARGE' });
      expect(storedFiles()).toEqual(before);
      expect(await t.backend.sql('SELECT 1 FROM uploads WHERE owner_id = $1', [user.id])).toHaveLength(0);
    });

    it('answers 422 VALIDATION_ERROR when no file is sent', async () => {
      const user = await signUp(t);
      const res = await t.http().post('/api/upload').set(user.auth).field('note', 'no file').expect(422);
      expect(res.body).toMatchObject({ success: false, code: 'VALIDATION_ERROR', errors: { file: [expect.any(String)] } });
      const other = await t.http().post('/api/upload').set(user.auth).attach('document', fixtures.pdf(), 'a.pdf').expect(422);
      expect(other.body.errors).toHaveProperty('file');
    });

    it('answers 401 without a session and stores nothing', async () => {
      await t.drainJobs();
      const before = storedFiles();
      const res = await t.http().post('/api/upload').attach('file', fixtures.pdf(), 'a.pdf').expect(401);
      expect(res.body).toMatchObject({ success: false, code: 'UNAUTHORIZED' });
      await t.http().post('/api/upload/avatar').attach('file', await fixtures.image('png'), 'a.png').expect(401);
      expect(storedFiles()).toEqual(before);
    });

    it('refuses a decompression bomb with 422 IMAGE_TOO_LARGE and keeps nothing', async () => {
      const user = await signUp(t);
      await t.drainJobs();
      const before = storedFiles();
      const res = await upload(user, fixtures.pngHeaderOnly(10_000, 8_000), 'bomb.png').expect(422);
      expect(res.body).toMatchObject({ success: false, code: 'IMAGE_TOO_LARGE' });
      expect(storedFiles()).toEqual(before);
    });
  });

  describe('image variants', () => {
    it('makes WebP variants: optimised within 2560 px, medium 800 px, thumbnail 200 px', async () => {
      const user = await signUp(t);
      const res = await upload(user, await fixtures.image('jpeg', 3000, 2000), 'wide.jpg').expect(201);
      const { url, mediumUrl, thumbUrl } = res.body.data;
      await t.drainJobs();
      for (const [variant, width, height] of [[url, 2560, 1707], [mediumUrl, 800, 533], [thumbUrl, 200, 133]] as const) {
        const served = await eventually(() => fetch(variant).expect(200).expect('Content-Type', 'image/webp'));
        expect(served.headers['cache-control']).toBe('public, max-age=31536000, immutable');
        expect(await sharp(served.body).metadata()).toMatchObject({ format: 'webp', width, height });
      }
      const [row] = await t.backend.sql('SELECT variants, width, height FROM uploads WHERE stored_name = $1', [nameOf(url)]);
      expect(row).toEqual({ variants: 'ready', width: 3000, height: 2000 });
    });

    it('never upscales a small image', async () => {
      const user = await signUp(t);
      const res = await upload(user, await fixtures.image('png', 120, 80), 'small.png').expect(201);
      await t.drainJobs();
      const medium = await eventually(() => fetch(res.body.data.mediumUrl).expect(200).expect('Content-Type', 'image/webp'));
      expect(await sharp(medium.body).metadata()).toMatchObject({ width: 120, height: 80 });
    });

    it('auto-rotates by EXIF and strips the metadata', async () => {
      const user = await signUp(t);
      const rotated = await sharp({ create: { width: 60, height: 30, channels: 3, background: '#336699' } }).jpeg().withMetadata({ orientation: 6 }).toBuffer();
      const res = await upload(user, rotated, 'rotated.jpg').expect(201);
      await t.drainJobs();
      const served = await eventually(() => fetch(res.body.data.url).expect(200).expect('Content-Type', 'image/webp'));
      const meta = await sharp(served.body).metadata();
      expect(meta).toMatchObject({ width: 30, height: 60 });
      expect(meta.exif).toBeUndefined();
    });

    it('keeps a GIF animated in the optimised original', async () => {
      const user = await signUp(t);
      const res = await upload(user, await fixtures.animatedGif(4), 'anim.gif').expect(201);
      await t.drainJobs();
      const served = await eventually(() => fetch(res.body.data.url).expect(200).expect('Content-Type', 'image/webp'));
      expect(await sharp(served.body).metadata()).toMatchObject({ format: 'webp', pages: 4 });
    });

    it('answers variant URLs with the original until the job has run', async () => {
      const user = await signUp(t);
      const jobs = holdVariants();
      try {
        const bytes = await fixtures.image('jpeg', 1000, 500);
        const res = await upload(user, bytes, 'pending.jpg').expect(201);
        expect(jobs.held).toHaveLength(1);
        for (const variant of [res.body.data.url, res.body.data.mediumUrl, res.body.data.thumbUrl]) {
          const served = await fetch(variant).expect(200).expect('Content-Type', 'image/jpeg');
          expect(served.headers['cache-control']).toBe('public, no-cache');
          expect(Buffer.compare(served.body, bytes)).toBe(0);
        }
        await jobs.release();
        const thumb = await eventually(() => fetch(res.body.data.thumbUrl).expect(200).expect('Content-Type', 'image/webp'));
        expect(await sharp(thumb.body).metadata()).toMatchObject({ width: 200, height: 100 });
      } finally {
        jobs.restore();
      }
    });

    it('fails the job for an image that does not decode, keeps serving the original, and keeps the worker alive', async () => {
      const user = await signUp(t);
      const corrupt = await fixtures.corruptWebp();
      const res = await upload(user, corrupt, 'broken.webp').expect(201);
      await t.drainJobs();
      await eventually(async () => {
        const [row] = await t.backend.sql('SELECT variants FROM uploads WHERE stored_name = $1', [nameOf(res.body.data.url)]);
        expect(row.variants).toBe('failed');
      });
      for (const variant of [res.body.data.url, res.body.data.thumbUrl]) {
        const served = await fetch(variant).expect(200).expect('Content-Type', 'image/webp');
        expect(served.headers['cache-control']).toBe('public, no-cache');
        expect(Buffer.compare(served.body, corrupt)).toBe(0);
      }
      const next = await upload(user, await fixtures.image('png', 400, 400), 'fine.png').expect(201);
      await t.drainJobs();
      await eventually(() => fetch(next.body.data.thumbUrl).expect(200).expect('Content-Type', 'image/webp'));
    });
  });

  describe('metadata of photos', () => {
    /** Every URL of an image upload, fetched; each body is scanned for the planted metadata. */
    const fetchAll = async (data: { url: string; mediumUrl: string; thumbUrl: string }) => {
      const served = [];
      for (const url of [data.url, data.mediumUrl, data.thumbUrl]) {
        const res = await fetch(url).expect(200);
        served.push({ url, type: res.headers['content-type'] as string, body: res.body as Buffer, leaks: fixtures.plantedMetadataIn(res.body) });
      }
      return served;
    };

    it('serves no byte of a photo’s EXIF, GPS, XMP or IPTC, neither at once (as a stand-in) nor after the variants', async () => {
      const user = await signUp(t);
      const photo = await fixtures.photoWithMetadata('jpeg');
      expect(fixtures.plantedMetadataIn(photo)).toContain('GPS latitude (little-endian)');
      const jobs = holdVariants();
      let data: { url: string; mediumUrl: string; thumbUrl: string };
      try {
        const res = await upload(user, photo, 'IMG_0001.jpg').expect(201);
        expect(res.body.data).toMatchObject({ type: 'IMAGE' });
        data = res.body.data;
        const atOnce = await fetchAll(data);
        // The size told is the file kept, without what was taken out of it.
        expect(res.body.data.size).toBe(atOnce[0].body.length);
        expect(res.body.data.size).toBeLessThan(photo.length);
        expect(atOnce.map((file) => [file.type, file.leaks])).toEqual([['image/jpeg', []], ['image/jpeg', []], ['image/jpeg', []]]);
        // Stripped losslessly: the stand-in is the very picture that was uploaded.
        const decoded = (image: Buffer) => sharp(image).raw().toBuffer();
        expect((await decoded(atOnce[0].body)).equals(await decoded(photo))).toBe(true);
        await jobs.release();
      } finally {
        jobs.restore();
      }
      const [row] = await t.backend.sql('SELECT variants FROM uploads WHERE stored_name = $1', [nameOf(data.url)]);
      expect(row.variants).toBe('ready');
      expect((await fetchAll(data)).map((file) => [file.type, file.leaks])).toEqual([['image/webp', []], ['image/webp', []], ['image/webp', []]]);
      // Not even the file kept on disk holds them.
      expect(storedBytesOf(nameOf(data.url)).map(fixtures.plantedMetadataIn)).toEqual([[], [], [], []]);
    });

    it('strips a JPEG missing its last 200 bytes the same way, and still makes its variants', async () => {
      const user = await signUp(t);
      const damaged = await fixtures.truncatedPhoto();
      expect(fixtures.plantedMetadataIn(damaged)).toContain('GPS latitude (little-endian)');
      const jobs = holdVariants();
      let data: { url: string; mediumUrl: string; thumbUrl: string };
      try {
        data = (await upload(user, damaged, 'cut.jpg').expect(201)).body.data;
        expect((await fetchAll(data)).map((file) => [file.type, file.leaks])).toEqual([['image/jpeg', []], ['image/jpeg', []], ['image/jpeg', []]]);
        await jobs.release();
      } finally {
        jobs.restore();
      }
      const [row] = await t.backend.sql('SELECT variants FROM uploads WHERE stored_name = $1', [nameOf(data.url)]);
      expect(row.variants).toBe('ready');
      expect((await fetchAll(data)).map((file) => [file.type, file.leaks])).toEqual([['image/webp', []], ['image/webp', []], ['image/webp', []]]);
      expect(storedBytesOf(nameOf(data.url)).map(fixtures.plantedMetadataIn)).toEqual([[], [], [], []]);
    });

    it('turns an EXIF-oriented photo upright in the original it keeps, with no EXIF left', async () => {
      const user = await signUp(t);
      const photo = await fixtures.photoWithMetadata('jpeg', { width: 320, height: 240, orientation: 6 });
      const jobs = holdVariants();
      try {
        const res = await upload(user, photo, 'portrait.jpg').expect(201);
        const [original] = await fetchAll(res.body.data);
        expect(original.leaks).toEqual([]);
        const meta = await sharp(original.body).metadata();
        expect(meta).toMatchObject({ format: 'jpeg', width: 240, height: 320 });
        expect(meta.exif).toBeUndefined();
        await jobs.release();
      } finally {
        jobs.restore();
      }
    });

    it.each([
      ['a PNG (eXIf, XMP, tEXt)', 'photo.png', 'image/png', () => fixtures.photoWithMetadata('png')],
      ['a WebP (EXIF, XMP)', 'photo.webp', 'image/webp', () => fixtures.photoWithMetadata('webp')],
      ['an animated GIF (comment, XMP)', 'anim.gif', 'image/gif', () => fixtures.gifWithMetadata()],
    ])('serves %s without its metadata before the variants exist', async (_, filename, mime, make) => {
      const user = await signUp(t);
      const image = await make();
      expect(fixtures.plantedMetadataIn(image)).toContain('planted secret text');
      const jobs = holdVariants();
      try {
        const res = await upload(user, image, filename).expect(201);
        expect((await fetchAll(res.body.data)).map((file) => [file.type, file.leaks])).toEqual([[mime, []], [mime, []], [mime, []]]);
        await jobs.release();
      } finally {
        jobs.restore();
      }
    });

    it('never serves an original kept before stripping existed: its variant URLs answer 404 until the variants are made', async () => {
      const user = await signUp(t);
      const jobs = holdVariants();
      try {
        const res = await upload(user, await fixtures.photoWithMetadata('jpeg'), 'old.jpg').expect(201);
        await t.backend.sql('UPDATE uploads SET metadata_stripped = false WHERE stored_name = $1', [nameOf(res.body.data.url)]);
        for (const url of [res.body.data.url, res.body.data.mediumUrl, res.body.data.thumbUrl]) await t.http().get(url).expect(404);
        await jobs.release();
        await eventually(() => fetch(res.body.data.thumbUrl).expect(200).expect('Content-Type', 'image/webp'));
      } finally {
        jobs.restore();
      }
    });
  });

  describe('POST /api/upload/avatar', () => {
    it('crops an image to a 400×400 WebP whose URL works at once', async () => {
      const user = await signUp(t);
      const res = await upload(user, await fixtures.image('jpeg', 900, 600), 'me.jpg', '/api/upload/avatar').expect(201);
      expect(res.body.data).toEqual({ url: expect.stringMatching(/^\/uploads\/[A-Za-z0-9_-]{22}\.webp$/) });
      const served = await fetch(res.body.data.url).expect(200).expect('Content-Type', 'image/webp');
      expect(await sharp(served.body).metadata()).toMatchObject({ format: 'webp', width: 400, height: 400 });
      const [row] = await t.backend.sql('SELECT owner_id, kind FROM uploads WHERE stored_name = $1', [nameOf(res.body.data.url)]);
      expect(row).toEqual({ owner_id: user.id, kind: 'IMAGE' });
    });

    it('refuses anything but an image with 415 and more than 10 MB with 413', async () => {
      const user = await signUp(t);
      expect((await upload(user, fixtures.pdf(), 'me.pdf', '/api/upload/avatar').expect(415)).body.code).toBe('UNSUPPORTED_FILE_TYPE');
      expect((await upload(user, Buffer.alloc(11 * 1024 * 1024, 0x61), 'me.jpg', '/api/upload/avatar').expect(413)).body.code).toBe('FILE_TOO_LARGE');
    });
  });

  describe('POST /api/upload/encrypted', () => {
    const ROUTE = '/api/upload/encrypted';
    const MB = 1024 * 1024;
    /** As the web client sends it: the cookie, its header, a part named `<name>.enc` of type octet-stream. */
    const uploadBlob = (user: TestUser, bytes: Buffer, filename = 'holiday.jpg.enc') =>
      t.http().post(ROUTE).set(user.browser).attach('file', bytes, { filename, contentType: 'application/octet-stream' });
    const tempFiles = () => readdirSync(join(uploadDir, '.tmp'));

    it('keeps the bytes exactly as sent under a random .enc name, as the uploader’s, with no processing', async () => {
      const user = await signUp(t);
      // Bytes that look like a PNG and like HTML: nothing looks, nothing sniffs.
      const bytes = Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), Buffer.from('<html><script>alert(1)</script>'), randomBytes(50_000)]);
      const res = await uploadBlob(user, bytes).expect(201);
      expect(res.body).toEqual({ success: true, data: { url: expect.stringMatching(/^\/uploads\/[A-Za-z0-9_-]{22}\.enc$/), name: 'holiday.jpg.enc', size: bytes.length } });
      const name = nameOf(res.body.data.url);
      expect(readFileSync(join(uploadDir, name)).equals(bytes)).toBe(true);
      const [row] = await t.backend.sql('SELECT owner_id, kind, mime, size, variants, original_name FROM uploads WHERE stored_name = $1', [name]);
      expect(row).toEqual({ owner_id: user.id, kind: 'FILE', mime: 'application/octet-stream', size: bytes.length, variants: 'none', original_name: 'holiday.jpg.enc' });
      await t.drainJobs();
      expect(storedFiles().filter((file) => file.endsWith(name))).toEqual([name]);
    });

    it('serves a blob as an attachment of opaque bytes (octet-stream, nosniff), to whoever holds its URL like every upload, and no variant of it', async () => {
      const user = await signUp(t);
      const bytes = Buffer.concat([Buffer.from('<!doctype html><script>alert(document.cookie)</script>'), randomBytes(10_000)]);
      const { url } = (await uploadBlob(user, bytes, 'page.html.enc').expect(201)).body.data;
      const served = await fetch(url).expect(200);
      expect(served.headers).toMatchObject({
        'content-type': 'application/octet-stream',
        'x-content-type-options': 'nosniff',
        'content-disposition': 'attachment',
        'content-length': String(bytes.length),
      });
      expect(served.headers['content-security-policy']).toContain('sandbox');
      expect(Buffer.compare(served.body, bytes)).toBe(0);
      const part = await fetch(url).set('Range', 'bytes=0-14').expect(206);
      expect(part.body.toString()).toBe('<!doctype html>');
      for (const area of ['medium', 'thumbs']) await t.http().get(`/uploads/${area}/${nameOf(url)}`).expect(404);
    });

    it('takes more than /api/upload’s 20 MB, streamed to disk and back byte for byte', async () => {
      const user = await signUp(t);
      const upload = streamUpload(`${t.url}${ROUTE}`, user.browser, { size: 25 * MB, filename: 'film.mp4.enc' });
      const res = await upload.response;
      expect(res).toMatchObject({ status: 201, body: { data: { name: 'film.mp4.enc', size: 25 * MB } } });
      expect(await fetchDigest(`${t.url}${res!.body.data.url}`)).toEqual({ status: 200, size: 25 * MB, sha256: upload.digest() });
      expect(tempFiles()).toEqual([]);
    }, 120_000);

    it('refuses one byte past 100 MB with 413 FILE_TOO_LARGE and leaves nothing on disk', async () => {
      const user = await signUp(t);
      await t.drainJobs();
      const before = storedFiles();
      const upload = streamUpload(`${t.url}${ROUTE}`, user.browser, { size: MAX_ENCRYPTED_BYTES + 1, filename: 'huge.enc' });
      expect(await upload.response).toMatchObject({ status: 413, body: { success: false, code: 'FILE_TOO_LARGE' } });
      expect(storedFiles()).toEqual(before);
      expect(await t.backend.sql('SELECT 1 FROM uploads WHERE owner_id = $1', [user.id])).toHaveLength(0);
    }, 120_000);

    it('leaves nothing on disk when the client hangs up mid-upload', async () => {
      const user = await signUp(t);
      await t.drainJobs();
      const before = storedFiles();
      const upload = streamUpload(`${t.url}${ROUTE}`, user.browser, { size: 50 * MB, filename: 'cut.enc', holdAt: 4 * MB });
      // 4 MB sent and a partial file on disk: now the tab closes.
      await eventually(async () => {
        expect(upload.sent()).toBe(4 * MB);
        expect(tempFiles().map((file) => statSync(join(uploadDir, '.tmp', file)).size > 0)).toEqual([true]);
      }, 15_000);
      upload.abort();
      expect(await upload.response).toBeNull();
      await eventually(async () => expect(storedFiles()).toEqual(before), 15_000);
      expect(await t.backend.sql('SELECT 1 FROM uploads WHERE owner_id = $1', [user.id])).toHaveLength(0);
    }, 60_000);

    it('answers 422 VALIDATION_ERROR without a file part, or with an empty one', async () => {
      const user = await signUp(t);
      const none = await t.http().post(ROUTE).set(user.browser).field('note', 'no file').expect(422);
      expect(none.body).toMatchObject({ success: false, code: 'VALIDATION_ERROR', errors: { file: [expect.any(String)] } });
      const elsewhere = await t.http().post(ROUTE).set(user.browser).attach('blob', randomBytes(64), 'a.enc').expect(422);
      expect(elsewhere.body.errors).toHaveProperty('file');
      await uploadBlob(user, Buffer.alloc(0)).expect(422);
      expect(await t.backend.sql('SELECT 1 FROM uploads WHERE owner_id = $1', [user.id])).toHaveLength(0);
    });

    it('needs a session (401) and, with the cookie, X-Requested-With: H2V (403 CSRF_REJECTED): it is not the exempt XHR upload', async () => {
      const user = await signUp(t);
      await t.drainJobs();
      const before = storedFiles();
      const bytes = randomBytes(1024);
      expect((await t.http().post(ROUTE).attach('file', bytes, 'a.enc').expect(401)).body.code).toBe('UNAUTHORIZED');
      expect((await t.http().post(ROUTE).set('Cookie', user.cookie).attach('file', bytes, 'a.enc').expect(403)).body.code).toBe('CSRF_REJECTED');
      expect(storedFiles()).toEqual(before);
      await t.http().post(ROUTE).set(user.auth).attach('file', bytes, 'a.enc').expect(201);
    });
  });

  describe('GET /uploads/*', () => {
    it.each([
      '/uploads/..%2f..%2fetc%2fpasswd',
      '/uploads/../package.json',
      '/uploads/%2e%2e%2fpackage.json',
      '/uploads/%2e%2e/%2e%2e/package.json',
      '/uploads/medium/..%2f..%2fpackage.json',
      '/uploads/thumbs/%2e%2e%2f%2e%2e%2fpackage.json',
      '/uploads/.tmp',
      '/uploads/originals/x.png',
      '/uploads/nope.png',
      '/uploads/medium/nope.pdf',
    ])('answers 404 NOT_FOUND for %s', async (path) => {
      const res = await t.http().get(path).expect(404);
      expect(res.body).toMatchObject({ success: false, code: 'NOT_FOUND' });
    });

    it('serves files with nosniff, immutable caching, and attachment for documents only', async () => {
      const user = await signUp(t);
      const doc = await upload(user, fixtures.pdf(), 'a.pdf').expect(201);
      const pdf = await fetch(doc.body.data.url).expect(200);
      expect(pdf.headers).toMatchObject({ 'x-content-type-options': 'nosniff', 'content-disposition': 'attachment', 'cache-control': 'public, max-age=31536000, immutable' });
      const song = await upload(user, fixtures.mp3(), 'a.mp3').expect(201);
      const mp3 = await fetch(song.body.data.url).expect(200);
      expect(mp3.headers).toMatchObject({ 'x-content-type-options': 'nosniff', 'content-disposition': 'inline', 'accept-ranges': 'bytes' });
    });

    it('answers byte ranges of media with 206, and 416 past the end', async () => {
      const user = await signUp(t);
      const bytes = fixtures.mp3();
      const song = await upload(user, bytes, 'a.mp3').expect(201);
      const part = await fetch(song.body.data.url).set('Range', 'bytes=10-19').expect(206);
      expect(part.headers['content-range']).toBe(`bytes 10-19/${bytes.length}`);
      expect(Buffer.compare(part.body, bytes.subarray(10, 20))).toBe(0);
      await t.http().get(song.body.data.url).set('Range', `bytes=${bytes.length + 10}-`).expect(416);
      // A suffix longer than the file is all of it (RFC 9110 §14.1.2); a zero-length suffix is unsatisfiable.
      const all = await fetch(song.body.data.url).set('Range', `bytes=-${bytes.length + 1000}`).expect(206);
      expect(all.headers['content-range']).toBe(`bytes 0-${bytes.length - 1}/${bytes.length}`);
      expect(Buffer.compare(all.body, bytes)).toBe(0);
      await t.http().get(song.body.data.url).set('Range', 'bytes=-0').expect(416);
      // Another unit is no byte range: the whole file, 200.
      for (const other of ['items=0-5', `items=${bytes.length + 10}-`]) {
        const whole = await fetch(song.body.data.url).set('Range', other).expect(200);
        expect(whole.headers['content-range']).toBeUndefined();
        expect(whole.body.length).toBe(bytes.length);
      }
      // The unit in any case.
      expect((await fetch(song.body.data.url).set('Range', 'Bytes=10-19').expect(206)).headers['content-range']).toBe(`bytes 10-19/${bytes.length}`);
    });
  });

  describe('for other features', () => {
    it('findOwned resolves the caller’s own URLs (any variant form) and nobody else’s', async () => {
      const [owner, other] = [await signUp(t), await signUp(t)];
      const res = await upload(owner, await fixtures.image('png'), 'mine.png').expect(201);
      const service = t.app.get(UploadsService);
      const expected = { url: res.body.data.url, kind: 'IMAGE', name: 'mine.png', size: res.body.data.size, encrypted: false };
      for (const url of [res.body.data.url, res.body.data.mediumUrl, res.body.data.thumbUrl]) expect(await service.findOwned(owner.id, url)).toEqual(expected);
      expect(await service.findOwned(other.id, res.body.data.url)).toBeNull();
      expect(await service.findOwned(owner.id, `https://elsewhere${res.body.data.url}`)).toBeNull();
      expect(await service.findOwned(owner.id, '/uploads/../../etc/passwd')).toBeNull();
      const blob = (await t.http().post('/api/upload/encrypted').set(owner.auth).attach('file', randomBytes(32), 'x.enc').expect(201)).body.data;
      expect(await service.findOwned(owner.id, blob.url)).toEqual({ url: blob.url, kind: 'FILE', name: 'x.enc', size: 32, encrypted: true });
    });

    it('deleting an account removes every stored file nothing else shows, by a job', async () => {
      const user = await signUp(t);
      const image = await upload(user, await fixtures.image('jpeg', 500, 500), 'a.jpg').expect(201);
      const doc = await upload(user, fixtures.pdf(), 'a.pdf').expect(201);
      await t.drainJobs();
      const names = [nameOf(image.body.data.url), nameOf(doc.body.data.url)];
      const files = () => storedFiles().filter((file) => names.some((name) => file.endsWith(name)));
      await eventually(async () => expect(files()).toHaveLength(5));
      await t.http().delete('/api/users/me').set(user.auth).expect(200);
      await t.drainJobs();
      await eventually(async () => expect(files()).toEqual([]), 15_000);
      expect(await t.backend.sql('SELECT 1 FROM uploads WHERE owner_id = $1', [user.id])).toHaveLength(0);
      expect(existsSync(uploadDir)).toBe(true);
    });

    it('removes the files of an account an older release deleted (rows left ownerless, nothing shows them), and keeps one a message still shows', async () => {
      const [user, friend] = [await signUp(t), await signUp(t)];
      const unused = await upload(user, fixtures.pdf(), 'unused.pdf').expect(201);
      const shown = await upload(user, fixtures.pdf(), 'shown.pdf').expect(201);
      const chatId = await openDirect(t, friend, user);
      // The friend's forward shows the second file after its owner's account goes.
      await t.backend.sql(`INSERT INTO messages (id, chat_id, sender_id, seq, type, media_url) SELECT gen_random_uuid(), $1, $2, 1000, 'FILE', $3`, [
        chatId,
        friend.id,
        shown.body.data.url,
      ]);
      // What a release before ownerless uploads did: the account row deleted, its uploads' owner let go, the job queued with their names.
      await t.backend.sql('DELETE FROM users WHERE id = $1', [user.id]);
      expect(await t.backend.sql('SELECT url FROM uploads WHERE url = ANY($1) AND owner_id IS NULL ORDER BY url', [[unused.body.data.url, shown.body.data.url]])).toHaveLength(2);
      await fetch(unused.body.data.url).expect(200);

      await t.app.get(JobQueue).add('delete-files', { names: [nameOf(unused.body.data.url), nameOf(shown.body.data.url)] });
      await t.drainJobs();
      await eventually(async () => expect(await t.backend.sql('SELECT url FROM uploads WHERE url = $1', [unused.body.data.url])).toEqual([]));
      await fetch(unused.body.data.url).expect(404);
      expect(storedFiles().filter((file) => file.endsWith(nameOf(unused.body.data.url)))).toEqual([]);
      await fetch(shown.body.data.url).expect(200);
      expect(await t.backend.sql('SELECT 1 FROM uploads WHERE url = $1', [shown.body.data.url])).toHaveLength(1);
    });

    it('removes a file uploaded while the account was being deleted, between the listing and the lock', async () => {
      const user = await signUp(t);
      const early = await upload(user, fixtures.pdf(), 'early.pdf').expect(201);
      const service = t.app.get(UploadsService);
      const list = service.deleteAllOf.bind(service);
      let late: string | undefined;
      const spy = jest.spyOn(service, 'deleteAllOf').mockImplementation(async (userId, options) => {
        const queued = await list(userId, options);
        // The first listing is taken: now an upload lands before the deletion locks the user.
        if (!options?.tx) late = nameOf((await upload(user, fixtures.pdf(), 'late.pdf').expect(201)).body.data.url);
        return queued;
      });
      try {
        await t.http().delete('/api/users/me').set(user.auth).expect(200);
      } finally {
        spy.mockRestore();
      }
      const names = [nameOf(early.body.data.url), late!];
      await t.drainJobs();
      await eventually(async () => expect(storedFiles().filter((file) => names.some((name) => file.endsWith(name)))).toEqual([]), 15_000);
    });
  });
});

describe('uploads after a crash', () => {
  it('sweeps stale partial uploads from the temp directory at start-up, and keeps fresh ones', async () => {
    const backend = await createBackend();
    const tmp = join(backend.env.DATA_DIR!, 'uploads', '.tmp');
    mkdirSync(tmp, { recursive: true });
    writeFileSync(join(tmp, 'upload-stale'), 'partial');
    writeFileSync(join(tmp, 'upload-fresh'), 'in flight');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    utimesSync(join(tmp, 'upload-stale'), twoHoursAgo, twoHoursAgo);
    const t = await createTestApp({ backend });
    try {
      expect(existsSync(join(tmp, 'upload-stale'))).toBe(false);
      expect(existsSync(join(tmp, 'upload-fresh'))).toBe(true);
    } finally {
      await t.close();
      await backend.close();
    }
  });
});

describe('uploads per day', () => {
  it('refuses, with 429 UPLOAD_QUOTA_EXCEEDED, an upload past UPLOAD_DAILY_MB of one user\'s last 24 hours; what was deleted again, or is older, does not count', async () => {
    const t = await createTestApp({ env: { UPLOAD_DAILY_MB: '1' } });
    try {
      const [a, b] = [await signUp(t), await signUp(t)];
      const blob = (kb: number) => randomBytes(kb * 1024);
      const encrypted = (user: TestUser, kb: number) =>
        t.http().post('/api/upload/encrypted').set(user.auth).set('X-Requested-With', 'H2V').attach('file', blob(kb), 'f.enc');
      await encrypted(a, 600).expect(201);
      const refused = await encrypted(a, 600).expect(429);
      expect(refused.body).toMatchObject({ success: false, code: 'UPLOAD_QUOTA_EXCEEDED' });
      // Every upload route counts, before any work on the file; a file that still fits is taken.
      for (const route of ['/api/upload', '/api/upload/avatar']) {
        const res = await t.http().post(route).set(a.auth).attach('file', blob(500), 'p.png');
        expect([route, res.status, res.body.code]).toEqual([route, 429, 'UPLOAD_QUOTA_EXCEEDED']);
      }
      await t.http().post('/api/upload').set(a.auth).attach('file', await fixtures.image('png', 8, 8), 'p.png').expect(201);
      // Someone else's day is their own.
      await encrypted(b, 600).expect(201);
      // A day later, b's upload no longer counts.
      await encrypted(b, 600).expect(429);
      await t.backend.sql(`UPDATE uploads SET created_at = now() - interval '25 hours' WHERE owner_id = $1`, [b.id]);
      await encrypted(b, 600).expect(201);
      // Kept bytes count, not bytes ever sent: with a's uploads gone (as a deleted message releases them), a has room again.
      await t.backend.sql('DELETE FROM uploads WHERE owner_id = $1', [a.id]);
      await encrypted(a, 600).expect(201);
      expect(await t.backend.sql('SELECT count(*)::int AS n FROM uploads WHERE owner_id = $1', [a.id])).toEqual([{ n: 1 }]);
    } finally {
      await t.close();
    }
  });

  it('counts what an image keeps on disk (its original as stored, then its variants), not the bytes received', async () => {
    const t = await createTestApp({ env: { UPLOAD_DAILY_MB: '1' } });
    try {
      const user = await signUp(t);
      // A heavily compressed photo to turn upright: kept re-encoded, its variants several times its bytes.
      const [width, height] = [1600, 1200];
      const noise = randomBytes(width * height * 3);
      const photo = await sharp(noise, { raw: { width, height, channels: 3 } }).blur(1.2).jpeg({ quality: 8 }).withMetadata({ orientation: 6 }).toBuffer();
      const name = (url: string) => url.split('/').pop()!;
      const dir = join(t.backend.env.DATA_DIR!, 'uploads');
      const onDisk = (stored: string) => ['originals', '', 'medium', 'thumbs'].reduce((sum, area) => sum + statSync(join(dir, area, stored)).size, 0);
      const kept: string[] = [];
      let received = 0;
      for (;;) {
        const res = await t.http().post('/api/upload').set(user.auth).attach('file', photo, 'photo.jpg');
        if (res.status === 429) break;
        expect(res.status).toBe(201);
        // The size told is the file its URL serves.
        expect(res.body.data.size).toBe(statSync(join(dir, 'originals', name(res.body.data.url))).size);
        kept.push(name(res.body.data.url));
        received += photo.length;
        await t.drainJobs();
      }
      const stored = kept.reduce((sum, stored) => sum + onDisk(stored), 0);
      // Refused once what is on disk would pass the day's 1 MB, long before what was received would.
      expect(stored).toBeGreaterThan(1024 * 1024 - 2 * onDisk(kept[0]));
      expect(received + photo.length).toBeLessThan(1024 * 1024 / 2);
      const [row] = await t.backend.sql<{ bytes: number }>('SELECT sum(size + variant_bytes)::int AS bytes FROM uploads WHERE owner_id = $1', [user.id]);
      expect(row.bytes).toBe(stored);
    } finally {
      await t.close();
    }
  });

  it('counts uploads sent in parallel one after another: no more than the day holds is kept', async () => {
    const t = await createTestApp({ env: { UPLOAD_DAILY_MB: '1' } });
    try {
      const user = await signUp(t);
      const answers = await Promise.all(
        Array.from({ length: 12 }, () => t.http().post('/api/upload/encrypted').set(user.auth).set('X-Requested-With', 'H2V').attach('file', randomBytes(300 * 1024), 'f.enc')),
      );
      const statuses = answers.map((res) => res.status).sort();
      expect(statuses.filter((status) => status === 201)).toHaveLength(3);
      expect(answers.filter((res) => res.status !== 201).map((res) => res.body.code)).toEqual(Array(9).fill('UPLOAD_QUOTA_EXCEEDED'));
      const [kept] = await t.backend.sql<{ n: number; bytes: number }>('SELECT count(*)::int AS n, sum(size)::int AS bytes FROM uploads WHERE owner_id = $1', [user.id]);
      expect(kept).toEqual({ n: 3, bytes: 3 * 300 * 1024 });
    } finally {
      await t.close();
    }
  });

  it('refuses a body that cannot fit before receiving it: the answer comes while the body is still being sent', async () => {
    const t = await createTestApp({ env: { UPLOAD_DAILY_MB: '1' } });
    try {
      const user = await signUp(t);
      /** Declares `declared` bytes of multipart body, sends its first KB, and resolves the answer that comes without the rest. */
      const answerToAHalfSentBody = (declared: number) =>
        new Promise<{ status: number; body: any }>((resolve, reject) => {
          const req = request(`${t.url}/api/upload/encrypted`, {
            method: 'POST',
            headers: { ...user.auth, 'X-Requested-With': 'H2V', 'Content-Type': 'multipart/form-data; boundary=b', 'Content-Length': String(declared) },
          });
          req.once('response', (res) => {
            let text = '';
            res.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
            res.once('end', () => {
              req.destroy();
              resolve({ status: res.statusCode!, body: JSON.parse(text) });
            });
          });
          req.once('error', reject);
          req.write(Buffer.concat([Buffer.from('--b\r\nContent-Disposition: form-data; name="file"; filename="f.enc"\r\n\r\n'), randomBytes(1024)]));
        });
      // A declared 2 MB cannot fit a day of 1 MB.
      const refused = await answerToAHalfSentBody(2 * 1024 * 1024);
      expect(refused).toMatchObject({ status: 429, body: { success: false, code: 'UPLOAD_QUOTA_EXCEEDED' } });
      // Nearly used up: a small body past what is left is refused as early.
      await t.http().post('/api/upload/encrypted').set(user.auth).set('X-Requested-With', 'H2V').attach('file', randomBytes(1000 * 1024), 'f.enc').expect(201);
      expect(await answerToAHalfSentBody(100 * 1024)).toMatchObject({ status: 429, body: { code: 'UPLOAD_QUOTA_EXCEEDED' } });
    } finally {
      await t.close();
    }
  });
});
