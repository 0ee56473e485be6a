import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { eventually, signUp, TestUser } from '../support/factories';
import { connect, openDirect } from '../support/chats';
import * as fixtures from '../support/media-fixtures';
import { createSignalDevice, decryptFrom, encryptFor, SIGNAL_PREKEY_WHISPER, SIGNAL_WHISPER, SignalDevice, startSession } from '../support/signal';
import { createTestApp, TestApp } from '../support/test-app';

describe('secret chats', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp({ captureLogs: true })));
  afterAll(() => t.close());

  async function withKeys(): Promise<{ user: TestUser; device: SignalDevice }> {
    const user = await signUp(t);
    const device = await createSignalDevice({ preKeyCount: 3 });
    await t.http().post('/api/keys/bundle').set(user.auth).send(device.bundle).expect(201);
    return { user, device };
  }

  it('carries a real Signal conversation: the server relays ciphertext it cannot read', async () => {
    const alice = await withKeys();
    const bob = await withKeys();
    const [aws, bws] = [await connect(t, alice.user), await connect(t, bob.user)];

    // Alice fetches Bob's bundle through the API, builds a session, opens the secret chat.
    const bundle = (await t.http().get(`/api/keys/bundle/${bob.user.id}`).set(alice.user.auth).expect(200)).body.data;
    await startSession(alice.device, bob.user.id, bundle);
    const chat = (await t.http().post('/api/chats/secret').set(alice.user.auth).send({ targetUserId: bob.user.id }).expect(200)).body.data;
    expect(chat).toMatchObject({ type: 'SECRET', lastMessage: null });

    const plaintext = 'Meet me at 7, the usual place 🤫';
    const sealed = await encryptFor(alice.device, bob.user.id, plaintext);
    expect(sealed.signalType).toBe(SIGNAL_PREKEY_WHISPER);
    aws.send('message:send', { chatId: chat.id, text: null, ...sealed, clientMessageId: randomUUID() });

    expect(await bws.waitFor('chat:new')).toMatchObject({ id: chat.id, type: 'SECRET' });
    const received = await bws.waitFor('message:new');
    expect(received).toMatchObject({ chatId: chat.id, text: null, ciphertext: sealed.ciphertext, signalType: SIGNAL_PREKEY_WHISPER });
    expect(await decryptFrom(bob.device, alice.user.id, received)).toBe(plaintext);

    const answer = await encryptFor(bob.device, alice.user.id, 'See you there');
    expect(answer.signalType).toBe(SIGNAL_WHISPER);
    bws.send('message:send', { chatId: chat.id, ...answer });
    const back = await aws.waitFor('message:new', (m) => m.sender.id === bob.user.id);
    expect(await decryptFrom(alice.device, bob.user.id, back)).toBe('See you there');

    const rows = await t.backend.sql('SELECT text, ciphertext, search::text AS search FROM messages WHERE chat_id = $1', [chat.id]);
    expect(rows).toHaveLength(2);
    for (const row of rows) {
      expect(row.text).toBeNull();
      expect(row.search).toBe('');
      expect(JSON.stringify(row)).not.toContain('Meet me');
    }
    expect(t.logs.join('')).not.toContain(sealed.ciphertext.slice(0, 40));
    aws.close();
    bws.close();
  });

  /** AES-256-GCM as a client might seal a file: IV, ciphertext, tag. The key never reaches the server in the clear. */
  function sealFile(file: Buffer): { blob: Buffer; key: Buffer } {
    const key = randomBytes(32);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    const body = Buffer.concat([cipher.update(file), cipher.final()]);
    return { blob: Buffer.concat([iv, body, cipher.getAuthTag()]), key };
  }

  function openFile(blob: Buffer, key: Buffer): Buffer {
    const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(0, 12));
    decipher.setAuthTag(blob.subarray(blob.length - 16));
    return Buffer.concat([decipher.update(blob.subarray(12, blob.length - 16)), decipher.final()]);
  }

  /** POST /api/upload/encrypted as the web client sends it (cookie, X-Requested-With, `<name>.enc`). */
  async function uploadBlob(user: TestUser, blob: Buffer, filename = 'file.enc'): Promise<{ url: string; name: string; size: number }> {
    return (await t.http().post('/api/upload/encrypted').set(user.browser).attach('file', blob, { filename, contentType: 'application/octet-stream' }).expect(201)).body.data;
  }

  const binary = (res: any, done: (error: Error | null, body: Buffer) => void) => {
    const chunks: Buffer[] = [];
    res.on('data', (chunk: Buffer) => chunks.push(chunk));
    res.on('end', () => done(null, Buffer.concat(chunks)));
  };

  it('carries encrypted media: the file key travels as Signal ciphertext, the blob as an upload the server cannot read', async () => {
    const alice = await withKeys();
    const bob = await withKeys();
    const [aws, bws] = [await connect(t, alice.user), await connect(t, bob.user)];
    const bundle = (await t.http().get(`/api/keys/bundle/${bob.user.id}`).set(alice.user.auth).expect(200)).body.data;
    await startSession(alice.device, bob.user.id, bundle);
    const chat = (await t.http().post('/api/chats/secret').set(alice.user.auth).send({ targetUserId: bob.user.id }).expect(200)).body.data;

    // Alice seals a file with a fresh key, uploads the blob, and sends the key through Signal.
    const file = Buffer.concat([Buffer.from('%PDF-1.4 the itinerary '), randomBytes(300_000)]);
    const { blob, key } = sealFile(file);
    const uploaded = await uploadBlob(alice.user, blob, 'itinerary.pdf.enc');
    expect(uploaded).toEqual({ url: expect.stringMatching(/^\/uploads\/[A-Za-z0-9_-]+\.enc$/), name: 'itinerary.pdf.enc', size: blob.length });
    const sealed = await encryptFor(alice.device, bob.user.id, key.toString('base64'));
    const clientMessageId = randomUUID();
    aws.send('message:send', {
      chatId: chat.id,
      text: 'The plan for Friday',
      type: 'FILE',
      mediaUrl: uploaded.url,
      mediaName: 'itinerary.pdf',
      mediaSize: file.length,
      ...sealed,
      clientMessageId,
    });
    expect(await aws.waitFor('message:new', (m) => m.clientMessageId === clientMessageId)).toMatchObject({ mediaUrl: uploaded.url });

    // Bob gets the message, opens the key with his Signal session, downloads the blob and opens it.
    const received = await bws.waitFor('message:new');
    expect(received).toMatchObject({
      chatId: chat.id,
      type: 'FILE',
      text: 'The plan for Friday',
      mediaUrl: uploaded.url,
      mediaName: 'itinerary.pdf',
      mediaSize: file.length,
      ciphertext: sealed.ciphertext,
      signalType: SIGNAL_PREKEY_WHISPER,
    });
    const fileKey = Buffer.from(await decryptFrom(bob.device, alice.user.id, received), 'base64');
    const download = await t.http().get(received.mediaUrl).set('Cookie', bob.user.cookie).buffer(true).parse(binary).expect(200);
    expect(download.headers['content-type']).toBe('application/octet-stream');
    expect(Buffer.compare(download.body, blob)).toBe(0);
    expect(Buffer.compare(openFile(download.body, fileKey), file)).toBe(0);

    // What the server holds: the blob, never the file or its key.
    const stored = await t.backend.sql('SELECT media_url, ciphertext FROM messages WHERE chat_id = $1', [chat.id]);
    expect(stored).toEqual([{ media_url: uploaded.url, ciphertext: sealed.ciphertext }]);
    expect(download.body.includes(file.subarray(0, 64))).toBe(false);
    expect(t.logs.join('')).not.toContain(key.toString('base64'));
    aws.close();
    bws.close();
  });

  it('takes as media only the sender’s own encrypted upload, and encrypted uploads only in secret chats', async () => {
    const alice = await withKeys();
    const bob = await withKeys();
    const aws = await connect(t, alice.user);
    const chatId = (await t.http().post('/api/chats/secret').set(alice.user.auth).send({ targetUserId: bob.user.id }).expect(200)).body.data.id;
    const own = await uploadBlob(alice.user, randomBytes(2048));
    const bobs = await uploadBlob(bob.user, randomBytes(2048));
    const plain = (await t.http().post('/api/upload').set(alice.user.auth).attach('file', fixtures.pdf(), 'a.pdf').expect(201)).body.data;
    const sealed = { ciphertext: 'QUJD', signalType: 1 };
    const refusals: Array<[Record<string, unknown>, string]> = [
      [{ type: 'IMAGE', mediaUrl: bobs.url, ...sealed }, 'MEDIA_NOT_FOUND'],
      [{ type: 'FILE', mediaUrl: plain.url, ...sealed }, 'MEDIA_NOT_FOUND'],
      [{ type: 'IMAGE', mediaUrl: '/uploads/AAAAAAAAAAAAAAAAAAAAAA.enc', ...sealed }, 'MEDIA_NOT_FOUND'],
      [{ type: 'FILE', mediaUrl: `https://elsewhere.example${own.url}`, ...sealed }, 'MEDIA_NOT_FOUND'],
      [{ mediaUrl: own.url, ...sealed }, 'VALIDATION_ERROR'],
      [{ type: 'TEXT', mediaUrl: own.url, ...sealed }, 'VALIDATION_ERROR'],
      [{ type: 'IMAGE', mediaUrl: own.url, text: 'caption' }, 'CIPHERTEXT_REQUIRED'],
    ];
    for (const [payload, code] of refusals) {
      const clientMessageId = randomUUID();
      aws.send('message:send', { chatId, ...payload, clientMessageId });
      expect(await aws.waitFor('message:send:error', (e) => e.clientMessageId === clientMessageId)).toMatchObject({ code });
    }
    expect(await t.backend.sql('SELECT 1 FROM messages WHERE chat_id = $1', [chatId])).toHaveLength(0);

    // An encrypted upload is no media anywhere else: nobody there holds its key.
    const directId = await openDirect(t, alice.user, bob.user);
    for (const type of ['FILE', 'IMAGE']) {
      aws.send('message:send', { chatId: directId, type, mediaUrl: own.url, clientMessageId: `direct-${type}` });
      expect(await aws.waitFor('message:send:error', (e) => e.clientMessageId === `direct-${type}`)).toMatchObject({ code: 'MEDIA_NOT_FOUND' });
    }
    expect(await t.backend.sql('SELECT 1 FROM messages WHERE chat_id = $1', [directId])).toHaveLength(0);
    expect((await t.http().patch('/api/users/me').set(alice.user.auth).send({ avatar: own.url }).expect(422)).body.code).toBe('MEDIA_NOT_FOUND');
    aws.close();
  });

  it('leaves encrypted media out of /shared, and releases the blob with its message or its chat', async () => {
    const alice = await withKeys();
    const bob = await withKeys();
    const aws = await connect(t, alice.user);
    const chatId = (await t.http().post('/api/chats/secret').set(alice.user.auth).send({ targetUserId: bob.user.id }).expect(200)).body.data.id;
    const uploadDir = join(t.backend.env.DATA_DIR!, 'uploads');
    const onDisk = (url: string) => existsSync(join(uploadDir, url.split('/').pop()!));
    const sendBlob = async (type: string, url: string) => {
      const clientMessageId = randomUUID();
      aws.send('message:send', { chatId, type, mediaUrl: url, mediaName: 'x', mediaSize: 10, ciphertext: 'QUJD', signalType: 1, clientMessageId });
      return aws.waitFor('message:new', (m) => m.clientMessageId === clientMessageId);
    };
    const [photo, doc] = [await uploadBlob(alice.user, randomBytes(4096)), await uploadBlob(alice.user, randomBytes(4096))];
    const photoMessage = await sendBlob('IMAGE', photo.url);
    await sendBlob('FILE', doc.url);

    for (const query of ['', '?tab=media', '?tab=files', '?type=IMAGE']) {
      for (const user of [alice.user, bob.user]) {
        expect((await t.http().get(`/api/chats/${chatId}/shared${query}`).set(user.auth).expect(200)).body.data).toEqual({ items: [], nextCursor: null });
      }
    }
    // They are in the history all the same.
    const history = (await t.http().get(`/api/chats/${chatId}/messages?type=IMAGE`).set(bob.user.auth).expect(200)).body.data.messages;
    expect(history.map((m: { id: string }) => m.id)).toEqual([photoMessage.id]);

    await t.http().delete(`/api/messages/${photoMessage.id}?forEveryone=true`).set(alice.user.browser).expect(200);
    await t.http().get(photo.url).expect(404);
    await t.drainJobs();
    await eventually(async () => expect(onDisk(photo.url)).toBe(false));
    expect(onDisk(doc.url)).toBe(true);

    await t.http().delete(`/api/chats/${chatId}/leave`).set(bob.user.browser).expect(200);
    await t.http().get(doc.url).expect(404);
    expect(await t.backend.sql('SELECT 1 FROM uploads WHERE url = ANY($1::text[])', [[photo.url, doc.url]])).toHaveLength(0);
    await t.drainJobs();
    await eventually(async () => expect(onDisk(doc.url)).toBe(false));
    aws.close();
  });

  it('refuses plaintext and foreign media, requires ciphertext and signalType, and edits only the ciphertext', async () => {
    const alice = await withKeys();
    const bob = await withKeys();
    const aws = await connect(t, alice.user);
    const chatId = (await t.http().post('/api/chats/secret').set(alice.user.auth).send({ targetUserId: bob.user.id }).expect(200)).body.data.id;
    const refusals: Array<[Record<string, unknown>, string]> = [
      [{ text: 'plain words' }, 'PLAINTEXT_IN_SECRET_CHAT'],
      [{ text: 'plain', ciphertext: 'QUJD', signalType: 1 }, 'PLAINTEXT_IN_SECRET_CHAT'],
      [{ type: 'IMAGE', mediaUrl: '/uploads/x.png', ciphertext: 'QUJD', signalType: 1 }, 'MEDIA_NOT_FOUND'],
      [{ ciphertext: 'QUJD' }, 'CIPHERTEXT_REQUIRED'],
      [{}, 'CIPHERTEXT_REQUIRED'],
      [{ type: 'AUDIO', ciphertext: 'QUJD', signalType: 1 }, 'VALIDATION_ERROR'],
    ];
    for (const [payload, code] of refusals) {
      aws.send('message:send', { chatId, ...payload, clientMessageId: randomUUID() });
      const error = await aws.waitFor('message:send:error');
      expect(error.code).toBe(code);
      expect(JSON.stringify(error)).not.toContain('QUJD');
    }
    expect(await t.backend.sql('SELECT 1 FROM messages WHERE chat_id = $1', [chatId])).toHaveLength(0);

    aws.send('message:send', { chatId, ciphertext: 'QUJD', signalType: 1 });
    const sent = await aws.waitFor('message:new');
    expect((await t.http().patch(`/api/messages/${sent.id}`).set(alice.user.auth).send({ text: 'leak' }).expect(422)).body.code).toBe('PLAINTEXT_IN_SECRET_CHAT');
    // A null signalType would store ciphertext nobody can decrypt.
    expect((await t.http().patch(`/api/messages/${sent.id}`).set(alice.user.auth).send({ ciphertext: 'REVG', signalType: null })).body.code).toBe('CIPHERTEXT_REQUIRED');
    const edited = (await t.http().patch(`/api/messages/${sent.id}`).set(alice.user.auth).send({ ciphertext: 'REVG', signalType: 1 }).expect(200)).body.data;
    expect(edited).toMatchObject({ ciphertext: 'REVG', signalType: 1, text: null, isEdited: true });

    // Encrypted media: its ciphertext is the file's key and its caption plaintext; an edit would lose both.
    const blob = await uploadBlob(alice.user, randomBytes(1024));
    aws.send('message:send', { chatId, type: 'IMAGE', mediaUrl: blob.url, text: 'caption', ciphertext: 'S0VZ', signalType: 1 });
    const media = await aws.waitFor('message:new', (m) => m.mediaUrl === blob.url);
    const refused = await t.http().patch(`/api/messages/${media.id}`).set(alice.user.auth).send({ ciphertext: 'REVG', signalType: 1 }).expect(422);
    expect(refused.body).toMatchObject({ code: 'VALIDATION_ERROR', errors: { type: [expect.any(String)] } });
    expect(await t.backend.sql('SELECT text, ciphertext, is_edited FROM messages WHERE id = $1', [media.id])).toEqual([{ text: 'caption', ciphertext: 'S0VZ', is_edited: false }]);
    aws.close();
  });

  it('needs a bundle on the other side (409 BUNDLE_NOT_FOUND) and no block between the two', async () => {
    const alice = await withKeys();
    const keyless = await signUp(t);
    const res = await t.http().post('/api/chats/secret').set(alice.user.auth).send({ targetUserId: keyless.id }).expect(409);
    expect(res.body.code).toBe('BUNDLE_NOT_FOUND');
    const bob = await withKeys();
    await t.backend.sql('INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2)', [bob.user.id, alice.user.id]);
    expect((await t.http().post('/api/chats/secret').set(alice.user.auth).send({ targetUserId: bob.user.id }).expect(403)).body.code).toBe('BLOCKED');
  });
});
