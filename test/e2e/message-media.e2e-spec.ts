import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { MediaResolver } from '../../src/messages/media-resolver';
import { UnusedUploadsSweeper } from '../../src/uploads/unused-uploads.sweeper';
import { connect, createGroup, openDirect, send } from '../support/chats';
import { TEST_DATABASE_URL } from '../support/env';
import { eventually, signUp, TestUser } from '../support/factories';
import * as fixtures from '../support/media-fixtures';
import { createTestApp, TestApp } from '../support/test-app';
import { WsClient } from '../support/ws-client';
import { lockWaiters } from '../support/races';

/**
 * The media of deleted messages: deleting the last message that shows a file (or the chat, or
 * the account, that takes such messages with it) stops serving the file at once and removes it
 * from storage, unless another message or an avatar still shows it.
 */
describe('media of deleted messages', () => {
  let t: TestApp;
  let uploadDir: string;
  beforeAll(async () => {
    t = await createTestApp();
    uploadDir = join(t.backend.env.DATA_DIR!, 'uploads');
  });
  afterAll(() => t.close());

  interface Photo {
    url: string;
    mediumUrl: string;
    thumbUrl: string;
  }

  async function pair(): Promise<{ a: TestUser; b: TestUser; chatId: string; aws: WsClient; bws: WsClient }> {
    const [a, b] = await Promise.all([signUp(t), signUp(t)]);
    const chatId = await openDirect(t, a, b);
    return { a, b, chatId, aws: await connect(t, a), bws: await connect(t, b) };
  }

  /** Uploads a photo and waits for its variants, so all four stored forms exist. */
  async function photo(user: TestUser): Promise<Photo> {
    const data = (await t.http().post('/api/upload').set(user.auth).attach('file', await fixtures.image('jpeg', 900, 600), 'p.jpg').expect(201)).body.data;
    await t.drainJobs();
    await eventually(async () => expect(storedForms(data)).toHaveLength(4));
    return data;
  }

  const sendPhoto = (ws: WsClient, chatId: string, media: Photo) => send(ws, chatId, '', { type: 'IMAGE', mediaUrl: media.url });
  const nameOf = (url: string) => url.split('/').pop()!;
  const storedForms = (media: Photo) => ['originals/', '', 'medium/', 'thumbs/'].map((area) => `${area}${nameOf(media.url)}`).filter((key) => existsSync(join(uploadDir, key)));
  const statuses = async (media: Photo) => Promise.all([media.url, media.mediumUrl, media.thumbUrl].map(async (url) => (await t.http().get(url)).status));
  const deleteMessage = (user: TestUser, id: string) => t.http().delete(`/api/messages/${id}`).set(user.auth).expect(200);

  /** Served, recorded and stored: the upload is alive. */
  async function expectKept(media: Photo): Promise<void> {
    expect(await statuses(media)).toEqual([200, 200, 200]);
    expect(await t.backend.sql('SELECT 1 FROM uploads WHERE stored_name = $1', [nameOf(media.url)])).toHaveLength(1);
    expect(storedForms(media)).toHaveLength(4);
  }

  /** Not served from the moment the deletion answered, its row gone, its files removed by the job. */
  async function expectGone(media: Photo): Promise<void> {
    expect(await statuses(media)).toEqual([404, 404, 404]);
    expect(await t.backend.sql('SELECT 1 FROM uploads WHERE stored_name = $1', [nameOf(media.url)])).toHaveLength(0);
    await t.drainJobs();
    await eventually(async () => expect(storedForms(media)).toEqual([]));
  }

  it('deleting the only message that shows a photo stops serving it (original and variants) and removes its files', async () => {
    const { a, b, chatId, aws, bws } = await pair();
    const media = await photo(a);
    const message = await sendPhoto(aws, chatId, media);
    await expectKept(media);
    await deleteMessage(a, message.id);
    expect(await bws.waitFor('message:deleted')).toMatchObject({ messageId: message.id, chatId });
    await expectGone(media);
    // And it cannot be sent again.
    aws.send('message:send', { chatId, type: 'IMAGE', mediaUrl: media.url, clientMessageId: 'again' });
    expect(await aws.waitFor('message:send:error')).toMatchObject({ code: 'MEDIA_NOT_FOUND', clientMessageId: 'again' });
    expect(b.id).not.toBe(a.id);
    aws.close();
    bws.close();
  });

  it('keeps a file another message still shows, and removes it with the last one', async () => {
    const { a, b, chatId, aws, bws } = await pair();
    const c = await signUp(t);
    const groupId = await createGroup(t, a, [b, c]);
    const media = await photo(a);
    const first = await sendPhoto(aws, chatId, media);
    const second = await sendPhoto(aws, groupId, media);
    await deleteMessage(a, first.id);
    await t.drainJobs();
    await expectKept(media);
    await deleteMessage(a, second.id);
    await expectGone(media);
    aws.close();
    bws.close();
  });

  it('keeps a photo that is also its sender’s avatar or a group’s avatar', async () => {
    const { a, b, chatId, aws, bws } = await pair();
    const groupId = await createGroup(t, a, [b]);
    const [own, group, plain] = [await photo(a), await photo(a), await photo(a)];
    await t.http().patch('/api/users/me').set(a.auth).send({ avatar: own.url }).expect(200);
    await t.http().patch(`/api/chats/${groupId}`).set(a.auth).send({ avatar: group.mediumUrl }).expect(200);
    const messages = [await sendPhoto(aws, chatId, own), await sendPhoto(aws, chatId, group), await sendPhoto(aws, chatId, plain)];
    for (const message of messages) await deleteMessage(a, message.id);
    await expectGone(plain);
    await expectKept(own);
    await expectKept(group);
    aws.close();
    bws.close();
  });

  it('deletes a replaced or cleared avatar that nothing else shows, and keeps one a message still shows', async () => {
    const { a, chatId, aws, bws } = await pair();
    const [first, second, shown] = [await photo(a), await photo(a), await photo(a)];
    const setAvatar = (avatar: string | null) => t.http().patch('/api/users/me').set(a.auth).send({ avatar }).expect(200);
    await setAvatar(first.url);
    await setAvatar(first.url);
    await expectKept(first);
    await setAvatar(second.url);
    await expectGone(first);
    await expectKept(second);
    await sendPhoto(aws, chatId, shown);
    await setAvatar(shown.url);
    await expectGone(second);
    await setAvatar(null);
    expect(await t.backend.sql('SELECT avatar FROM users WHERE id = $1', [a.id])).toEqual([{ avatar: null }]);
    await expectKept(shown);
    aws.close();
    bws.close();
  });

  it('leaves alone an upload that no message has shown yet, and other files', async () => {
    const { a, chatId, aws, bws } = await pair();
    const sent = await photo(a);
    const fresh = await photo(a);
    const doc = (await t.http().post('/api/upload').set(a.auth).attach('file', fixtures.pdf(), 'a.pdf').expect(201)).body.data;
    const text = await send(aws, chatId, 'just text');
    await deleteMessage(a, text.id);
    await deleteMessage(a, (await sendPhoto(aws, chatId, sent)).id);
    await expectGone(sent);
    await expectKept(fresh);
    await t.http().get(doc.url).expect(200);
    aws.close();
    bws.close();
  });

  it('a send that passed the media check while the delete removed the file gets MEDIA_NOT_FOUND, and nothing is stored', async () => {
    const { a, chatId, aws, bws } = await pair();
    const media = await photo(a);
    const first = await sendPhoto(aws, chatId, media);
    const resolver = t.app.get(MediaResolver);
    const resolve = resolver.resolve.bind(resolver);
    // The second send resolves the media, then the first message is deleted before it inserts.
    const spy = jest.spyOn(resolver, 'resolve').mockImplementation(async (userId, url) => {
      const resolved = await resolve(userId, url);
      await deleteMessage(a, first.id);
      return resolved;
    });
    try {
      aws.send('message:send', { chatId, type: 'IMAGE', mediaUrl: media.url, clientMessageId: 'racing' });
      expect(await aws.waitFor('message:send:error')).toMatchObject({ code: 'MEDIA_NOT_FOUND', clientMessageId: 'racing' });
    } finally {
      spy.mockRestore();
    }
    expect(await t.backend.sql('SELECT 1 FROM messages WHERE chat_id = $1', [chatId])).toHaveLength(0);
    await expectGone(media);
    aws.close();
    bws.close();
  });

  // Two connections at once: PGlite (the embedded mode) runs one statement at a time, so the
  // interleaving cannot happen there.
  (TEST_DATABASE_URL ? it : it.skip)('a delete waits for a send in flight with the same file, then keeps the file', async () => {
    const { a, b, chatId, aws, bws } = await pair();
    const groupId = await createGroup(t, a, [b]);
    const media = await photo(a);
    const first = await sendPhoto(aws, chatId, media);
    const sending = new Client({ connectionString: t.backend.env.DATABASE_URL });
    await sending.connect();
    try {
      // A second message with the file, in another chat, inserted but not committed yet.
      await sending.query('BEGIN');
      const [inFlight] = (
        await sending.query(
          `WITH s AS (UPDATE chats SET message_seq = message_seq + 1 WHERE id = $1 RETURNING message_seq)
           INSERT INTO messages (id, chat_id, sender_id, seq, type, media_url) SELECT gen_random_uuid(), $1, $2, s.message_seq, 'IMAGE', $3 FROM s RETURNING id`,
          [groupId, a.id, media.url],
        )
      ).rows;
      const deleting = t.http().delete(`/api/messages/${first.id}`).set(a.auth).then((res) => res.status);
      // The delete blocks on the upload row that the insert's foreign key check share-locked.
      await eventually(async () => {
        const waiting = await t.backend.sql(
          `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%FROM uploads%'`,
        );
        expect(waiting).toHaveLength(1);
      });
      await sending.query('COMMIT');
      expect(await deleting).toBe(200);
      expect(await t.backend.sql('SELECT id FROM messages WHERE media_url = $1', [media.url])).toEqual([{ id: inFlight.id }]);
    } finally {
      await sending.end();
    }
    await t.drainJobs();
    await expectKept(media);
    aws.close();
    bws.close();
  });

  it('deleting a direct chat removes the media both members sent in it', async () => {
    const { a, b, chatId, aws, bws } = await pair();
    const [fromA, fromB] = [await photo(a), await photo(b)];
    await sendPhoto(aws, chatId, fromA);
    await sendPhoto(bws, chatId, fromB);
    await t.http().delete(`/api/chats/${chatId}/leave`).set(a.auth).expect(200);
    await expectGone(fromA);
    await expectGone(fromB);
    aws.close();
    bws.close();
  });

  it('the last member leaving a group removes the media sent in it', async () => {
    const { a, b, aws, bws } = await pair();
    const groupId = await createGroup(t, a, [b]);
    const media = await photo(b);
    await sendPhoto(bws, groupId, media);
    await t.http().delete(`/api/chats/${groupId}/leave`).set(a.auth).expect(200);
    await t.drainJobs();
    await expectKept(media);
    await t.http().delete(`/api/chats/${groupId}/leave`).set(b.auth).expect(200);
    await expectGone(media);
    aws.close();
    bws.close();
  });

  it('deleting an account removes the other member’s media in the direct chat that goes with it', async () => {
    const { a, b, chatId, aws, bws } = await pair();
    const [fromA, fromB] = [await photo(a), await photo(b)];
    await sendPhoto(aws, chatId, fromA);
    await sendPhoto(bws, chatId, fromB);
    await t.http().delete('/api/users/me').set(a.auth).expect(200);
    await expectGone(fromB);
    await expectGone(fromA);
    aws.close();
    bws.close();
  });
  it('deleting an account keeps, ownerless, the media others still show (a forward of theirs, a group avatar it set) until the last thing showing it goes', async () => {
    const { a, b, chatId, aws, bws } = await pair();
    const c = await signUp(t);
    const groupId = await createGroup(t, a, [b, c]);
    const [forwarded, groupAvatar, onlyTheirs] = [await photo(a), await photo(a), await photo(a)];
    const original = await sendPhoto(aws, chatId, forwarded);
    await sendPhoto(aws, chatId, onlyTheirs);
    const copy = await send(bws, groupId, '', { type: 'IMAGE', mediaUrl: forwarded.url, forwardedFromId: original.id, forwardSenderName: a.nickname });
    await t.http().patch(`/api/chats/${groupId}`).set(a.auth).send({ avatar: groupAvatar.url }).expect(200);

    await t.http().delete('/api/users/me').set(a.auth).expect(200);
    await expectGone(onlyTheirs);
    await t.drainJobs();
    for (const kept of [forwarded, groupAvatar]) await expectKept(kept);
    expect(await t.backend.sql('SELECT owner_id FROM uploads WHERE url = ANY($1::text[])', [[forwarded.url, groupAvatar.url]])).toEqual([{ owner_id: null }, { owner_id: null }]);
    // The forward goes: nothing shows the photo any more.
    await deleteMessage(b, copy.id);
    await expectGone(forwarded);
    await expectKept(groupAvatar);
    aws.close();
    bws.close();
  });

  it('deleting an account repairs the last message of a group it left, whose last message was its own', async () => {
    const { a, b, aws, bws } = await pair();
    const groupId = await createGroup(t, b, [a]);
    const fromB = await send(bws, groupId, 'from b');
    await send(aws, groupId, 'from a');
    await t.http().delete(`/api/chats/${groupId}/leave`).set(a.auth).expect(200);
    await t.http().delete('/api/users/me').set(a.auth).expect(200);
    expect(await t.backend.sql('SELECT last_message_id FROM chats WHERE id = $1', [groupId])).toEqual([{ last_message_id: fromB.id }]);
    const listed = (await t.http().get('/api/chats').set(b.auth).expect(200)).body.data;
    expect((listed.chats ?? listed).find((chat: { id: string }) => chat.id === groupId).lastMessage).toMatchObject({ id: fromB.id, text: 'from b' });
    aws.close();
    bws.close();
  });

  // Last in the file: its sweep runs as if a day had passed, so every upload of the earlier cases that nothing shows goes too.
  it('sweeps the uploads nothing shows UPLOAD_UNUSED_HOURS after they were made, and keeps the ones in use or younger', async () => {
    const { a, b, chatId, aws, bws } = await pair();
    const groupId = await createGroup(t, a, [b]);
    const [unused, sent, avatar, groupAvatar, young] = [await photo(a), await photo(a), await photo(a), await photo(a), await photo(a)];
    const secret = (await t.http().post('/api/upload/encrypted').set(a.auth).set('X-Requested-With', 'H2V').attach('file', Buffer.from('opaque'), 'x.enc').expect(201)).body.data;
    await sendPhoto(aws, chatId, sent);
    await t.http().patch('/api/users/me').set(a.auth).send({ avatar: avatar.url }).expect(200);
    await t.http().patch(`/api/chats/${groupId}`).set(a.auth).send({ avatar: groupAvatar.mediumUrl }).expect(200);
    // A day from now, all of these are past UPLOAD_UNUSED_HOURS (24) but `young`, made "later".
    await t.backend.sql(`UPDATE uploads SET created_at = now() + interval '2 hours' WHERE stored_name = $1`, [nameOf(young.url)]);
    const sweeper = t.app.get(UnusedUploadsSweeper);
    const aDayLater = new Date(Date.now() + 25 * 3_600_000);
    expect(await sweeper.run(aDayLater)).toBeGreaterThanOrEqual(2);
    await expectGone(unused);
    expect((await t.http().get(secret.url).set(a.auth)).status).toBe(404);
    expect(await t.backend.sql('SELECT 1 FROM uploads WHERE url = $1', [secret.url])).toEqual([]);
    for (const kept of [sent, avatar, groupAvatar, young]) await expectKept(kept);
    // Each upload is looked at once: the next sweep starts past them and finds nothing new.
    expect(await sweeper.run(aDayLater)).toBe(0);
    aws.close();
    bws.close();
  });

  // Two connections at once: PGlite (the embedded mode) runs one statement at a time, so the interleaving cannot happen there.
  (TEST_DATABASE_URL ? it : it.skip)('refuses an avatar whose upload a sweep is deleting: MEDIA_NOT_FOUND, not an avatar nobody can load', async () => {
    const user = await signUp(t);
    const photo: Photo = (await t.http().post('/api/upload').set(user.auth).attach('file', await fixtures.image('png'), 'p.png').expect(201)).body.data;
    // Its variants job done first: its update of the row would wait on the lock below too.
    await eventually(async () => expect((await t.backend.sql('SELECT variants FROM uploads WHERE url = $1', [photo.url]))[0].variants).toBe('ready'));
    const sweeping = new Client({ connectionString: t.backend.env.DATABASE_URL });
    await sweeping.connect();
    try {
      // As deleteUnreferenced does it: the row locked, found unused, deleted; not committed yet.
      await sweeping.query('BEGIN');
      await sweeping.query('SELECT id FROM uploads WHERE url = $1 FOR UPDATE', [photo.url]);
      await sweeping.query('DELETE FROM uploads WHERE url = $1', [photo.url]);
      const answer = t.http().patch('/api/users/me').set(user.auth).send({ avatar: photo.url }).then((res) => res);
      await lockWaiters(t);
      await sweeping.query('COMMIT');
      const res = await answer;
      expect([res.status, res.body.code]).toEqual([422, 'MEDIA_NOT_FOUND']);
    } finally {
      await sweeping.end();
    }
    expect((await t.backend.sql('SELECT avatar FROM users WHERE id = $1', [user.id]))[0].avatar).toBeNull();
  });

  it('queues again the variants of an image whose job was lost, at the sweep after they are overdue', async () => {
    const user = await signUp(t);
    const photo: Photo = (await t.http().post('/api/upload').set(user.auth).attach('file', await fixtures.image('png'), 'p.png').expect(201)).body.data;
    await eventually(async () => expect((await t.backend.sql('SELECT variants FROM uploads WHERE url = $1', [photo.url]))[0].variants).toBe('ready'));
    // As if its job never ran: pending, variants missing, uploaded a quarter of an hour ago.
    await t.backend.sql(`UPDATE uploads SET variants = 'pending', created_at = now() - interval '15 minutes' WHERE url = $1`, [photo.url]);
    const name = photo.url.split('/').pop()!;
    for (const dir of ['medium', 'thumbs']) rmSync(join(uploadDir, dir, name), { force: true });
    await t.app.get(UnusedUploadsSweeper).run();
    await eventually(async () => expect((await t.backend.sql('SELECT variants FROM uploads WHERE url = $1', [photo.url]))[0].variants).toBe('ready'));
    await t.http().get(photo.thumbUrl).expect(200);
    expect(existsSync(join(uploadDir, 'thumbs', name))).toBe(true);
  });
});
