import { randomUUID } from 'node:crypto';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppConfig } from '../../src/core/config/app-config';
import { eventually, signUp } from '../support/factories';
import { corruptWebp, image } from '../support/media-fixtures';
import { createTestApp, TestApp } from '../support/test-app';

/**
 * What the logs never hold, read at debug level (the level outside production). Log capture needs
 * the first app of its file (the process keeps the first app's logger).
 */
describe('logs', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp({ captureLogs: true })));
  afterAll(() => t.close());

  it("name where a link preview or a proxied image was fetched from, never the link's path or query (links in messages carry capabilities)", async () => {
    const user = await signUp(t);
    const secret = `zz${randomUUID().replace(/-/g, '')}`;
    // Loopback: refused by the outbound rules, and logged at debug as a failed fetch.
    expect((await t.http().get('/api/link-preview/proxy').query({ url: `http://127.0.0.1:9/x.png?token=${secret}` }).set(user.auth)).status).toBe(403);
    expect((await t.http().get('/api/link-preview').query({ url: `http://127.0.0.1:9/reset/${secret}` }).set(user.auth)).status).toBe(200);
    const fetches = t.logs.filter((line) => line.includes('http://127.0.0.1:9'));
    expect(fetches.map((line) => (JSON.parse(line) as { msg: string }).msg.split(':').slice(0, 3).join(':'))).toEqual(['proxy http://127.0.0.1:9', 'preview http://127.0.0.1:9']);
    expect(t.logs.join('\n')).not.toContain(secret);
  });

  it('name no invite code and no uploaded file name in request lines: whoever holds either gets in', async () => {
    const [owner, stranger] = await Promise.all([signUp(t), signUp(t)]);
    const chatId = (await t.http().post('/api/chats/group').set(owner.auth).send({ name: 'Logged', memberIds: [] }).expect(201)).body.data.id;
    const { code } = (await t.http().post(`/api/chats/${chatId}/invite`).set(owner.auth).send({}).expect(201)).body.data;
    await t.http().get(`/api/chats/join/${code}`).set(stranger.auth).expect(200);
    await t.http().post(`/api/chats/join/${code}`).expect(401);
    await t.http().post(`/api/chats/join/${code}`).set(stranger.auth).expect(200);
    const { url } = (await t.http().post('/api/upload').set(owner.auth).attach('file', Buffer.from('%PDF-1.4 logged'), 'logged.pdf').expect(201)).body.data;
    await t.http().get(url).expect(200);
    await t.http().get(url).set('Range', 'bytes=999999-').expect(416);
    const name = url.slice(url.lastIndexOf('/') + 1);
    await eventually(async () => expect(t.logs.join('\n')).toContain('/uploads/:name'));
    expect(t.logs.join('\n')).toContain('/api/chats/join/:code');
    expect(t.logs.join('\n')).not.toContain(code);
    expect(t.logs.join('\n')).not.toContain(name);
  });

  it('name an image that does not decode by its upload id, not by the file name it is still served at', async () => {
    const user = await signUp(t);
    const { url } = (await t.http().post('/api/upload').set(user.auth).attach('file', await corruptWebp(), 'broken.webp').expect(201)).body.data;
    const name = url.slice(url.lastIndexOf('/') + 1);
    await t.drainJobs();
    const [row] = await eventually(async () => {
      const rows = await t.backend.sql(`SELECT id FROM uploads WHERE stored_name = $1 AND variants = 'failed'`, [name]);
      expect(rows).toHaveLength(1);
      return rows;
    });
    await eventually(async () => expect(t.logs.filter((line) => line.includes('image-variants') && line.includes(row.id))).not.toEqual([]));
    expect(t.logs.join('\n')).not.toContain(name);
  });

  it('name no uploaded file name when the storage fails (a file system error quotes the paths): the operation and the area instead', async () => {
    const user = await signUp(t);
    const thumbs = join(t.app.get(AppConfig).values.uploadDir, 'thumbs');
    // The thumbnails' directory replaced by a plain file: the image job cannot write a thumbnail, nor a request read one.
    renameSync(thumbs, `${thumbs}.away`);
    writeFileSync(thumbs, '');
    let name: string;
    try {
      const { url } = (await t.http().post('/api/upload').set(user.auth).attach('file', await image('png'), 'logged.png').expect(201)).body.data;
      name = url.slice(url.lastIndexOf('/') + 1);
      await eventually(async () => expect(t.logs.filter((line) => line.includes('image-variants') && line.includes('ENOTDIR: rename into UPLOAD_DIR/thumbs'))).not.toEqual([]));
      const failed = await t.http().get(`/uploads/thumbs/${name}`).expect(500);
      expect(failed.body).toMatchObject({ success: false, code: 'INTERNAL_ERROR', requestId: failed.headers['x-request-id'] });
    } finally {
      rmSync(thumbs);
      renameSync(`${thumbs}.away`, thumbs);
    }
    // A retry makes the variants (or the original stands in): served again.
    await t.drainJobs();
    await t.http().get(`/uploads/thumbs/${name}`).expect(200);
    const unhandled = t.logs.filter((line) => line.includes('Unhandled error'));
    expect(unhandled.join('\n')).toContain('ENOTDIR: stat in UPLOAD_DIR/thumbs');
    expect(t.logs.join('\n')).not.toContain(name);
  });
});
