import { randomUUID } from 'node:crypto';
import { signUp, TestUser } from '../support/factories';
import { connect } from '../support/chats';
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

  it('refuses plaintext and media, requires ciphertext and signalType, and edits only the ciphertext', async () => {
    const alice = await withKeys();
    const bob = await withKeys();
    const aws = await connect(t, alice.user);
    const chatId = (await t.http().post('/api/chats/secret').set(alice.user.auth).send({ targetUserId: bob.user.id }).expect(200)).body.data.id;
    const refusals: Array<[Record<string, unknown>, string]> = [
      [{ text: 'plain words' }, 'PLAINTEXT_IN_SECRET_CHAT'],
      [{ text: 'plain', ciphertext: 'QUJD', signalType: 1 }, 'PLAINTEXT_IN_SECRET_CHAT'],
      [{ mediaUrl: '/uploads/x.png', ciphertext: 'QUJD', signalType: 1 }, 'PLAINTEXT_IN_SECRET_CHAT'],
      [{ ciphertext: 'QUJD' }, 'CIPHERTEXT_REQUIRED'],
      [{}, 'CIPHERTEXT_REQUIRED'],
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
    const edited = (await t.http().patch(`/api/messages/${sent.id}`).set(alice.user.auth).send({ ciphertext: 'REVG', signalType: 1 }).expect(200)).body.data;
    expect(edited).toMatchObject({ ciphertext: 'REVG', signalType: 1, text: null, isEdited: true });
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
