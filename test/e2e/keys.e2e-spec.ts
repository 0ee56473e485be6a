import { randomBytes } from 'node:crypto';
import { KeysService, MAX_STORED_PREKEYS } from '../../src/keys/keys.service';
import { TEST_DATABASE_URL } from '../support/env';
import { signUp, TestUser } from '../support/factories';
import { createSignalDevice, decryptFrom, encryptFor, SIGNAL_PREKEY_WHISPER, SIGNAL_WHISPER, startSession, WireBundle, WireBundleUpload, WirePreKey } from '../support/signal';
import { createTestApp, TestApp } from '../support/test-app';

/** A well-formed public key: libsignal's 33-byte serialisation (0x05, then 32 key bytes). */
const fakeKey = (): string => Buffer.concat([Buffer.from([0x05]), randomBytes(32)]).toString('base64');
const fakePreKeys = (firstId: number, count: number): WirePreKey[] => Array.from({ length: count }, (_, i) => ({ keyId: firstId + i, publicKey: fakeKey() }));
const fakeBundle = (preKeyCount = 5): WireBundleUpload => ({
  registrationId: 1234,
  identityKey: fakeKey(),
  signedPreKeyId: 1,
  signedPreKey: fakeKey(),
  signedPreKeySig: randomBytes(64).toString('base64'),
  oneTimePreKeys: fakePreKeys(1, preKeyCount),
});

describe('keys', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  const upload = (user: TestUser, body: object) => t.http().post('/api/keys/bundle').set(user.auth).send(body);
  const fetchBundle = (caller: TestUser, targetId: string, app = t) => app.http().get(`/api/keys/bundle/${targetId}`).set(caller.auth);
  const hasBundle = (caller: TestUser, targetId: string) => t.http().get(`/api/keys/has-bundle/${targetId}`).set(caller.auth);
  const replenish = (user: TestUser, body: object) => t.http().post('/api/keys/replenish').set(user.auth).send(body);
  const count = async (user: TestUser): Promise<number> => (await t.http().get('/api/keys/count').set(user.auth).expect(200)).body.data.count;
  const storedKeyIds = async (userId: string): Promise<number[]> =>
    (await t.backend.sql<{ key_id: number }>('SELECT key_id FROM one_time_prekeys WHERE user_id = $1 AND handed_out_at IS NULL ORDER BY key_id', [userId])).map((r) => r.key_id);

  describe('Signal Protocol key exchange through the API', () => {
    it('lets Alice build a session from the bundle she fetched; Bob decrypts with his stored keys and they talk both ways', async () => {
      const [alice, bob] = [await signUp(t), await signUp(t)];
      const aliceDevice = await createSignalDevice({ preKeyCount: 5 });
      const bobDevice = await createSignalDevice({ preKeyCount: 5 });
      expect((await upload(alice, aliceDevice.bundle).expect(201)).body).toEqual({ success: true, data: { uploaded: true } });
      await upload(bob, bobDevice.bundle).expect(201);

      const res = await fetchBundle(alice, bob.id).expect(200);
      const bundle: WireBundle = res.body.data;
      const { oneTimePreKeys, ...published } = bobDevice.bundle;
      expect(bundle).toEqual({ ...published, preKey: oneTimePreKeys[0] });
      expect(await storedKeyIds(bob.id)).toEqual([2, 3, 4, 5]);
      expect(await count(bob)).toBe(4);

      await startSession(aliceDevice, bob.id, bundle);
      const first = await encryptFor(aliceDevice, bob.id, 'Привет, Bob! Secret at 7 👋');
      expect(first.signalType).toBe(SIGNAL_PREKEY_WHISPER);
      expect(Buffer.from(first.ciphertext, 'base64').toString('latin1')).not.toContain('Secret');

      expect(bobDevice.store.hasPreKey(bundle.preKey!.keyId)).toBe(true);
      expect(await decryptFrom(bobDevice, alice.id, first)).toBe('Привет, Bob! Secret at 7 👋');
      expect(bobDevice.store.hasPreKey(bundle.preKey!.keyId)).toBe(false);

      const reply = await encryptFor(bobDevice, alice.id, 'Hi Alice, got it');
      expect(reply.signalType).toBe(SIGNAL_WHISPER);
      expect(await decryptFrom(aliceDevice, bob.id, reply)).toBe('Hi Alice, got it');

      const again = await encryptFor(aliceDevice, bob.id, 'Ratchet turned');
      expect(again.signalType).toBe(SIGNAL_WHISPER);
      expect(await decryptFrom(bobDevice, alice.id, again)).toBe('Ratchet turned');
    });

    it('still makes a working session when no one-time prekey is left (preKey null)', async () => {
      const [alice, bob] = [await signUp(t), await signUp(t)];
      const aliceDevice = await createSignalDevice({ preKeyCount: 1 });
      const bobDevice = await createSignalDevice({ preKeyCount: 0 });
      await upload(bob, bobDevice.bundle).expect(201);

      const bundle: WireBundle = (await fetchBundle(alice, bob.id).expect(200)).body.data;
      expect(bundle.preKey).toBeNull();
      await startSession(aliceDevice, bob.id, bundle);
      const message = await encryptFor(aliceDevice, bob.id, 'no one-time key needed');
      expect(await decryptFrom(bobDevice, alice.id, message)).toBe('no one-time key needed');
    });
  });

  describe('handing out one-time prekeys', () => {
    // Embedded PGlite lives in one process, so a second instance needs the Postgres backend.
    let instances: TestApp[];
    beforeAll(async () => (instances = TEST_DATABASE_URL ? [t, await createTestApp({ backend: t.backend })] : [t]));
    afterAll(() => Promise.all(instances.slice(1).map((app) => app.close())));

    const bobWith50Keys = async (): Promise<{ bob: TestUser; keys: WirePreKey[] }> => {
      const bob = await signUp(t);
      const bundle = fakeBundle(50);
      await upload(bob, bundle).expect(201);
      return { bob, keys: bundle.oneTimePreKeys };
    };

    const expectEachKeyOnce = async (bob: TestUser, keys: WirePreKey[], preKeys: Array<WirePreKey | null>) => {
      const handedOut = preKeys.filter((k): k is WirePreKey => k !== null);
      expect(handedOut).toHaveLength(50);
      expect(new Set(handedOut.map((k) => k.keyId)).size).toBe(50);
      expect([...handedOut].sort((a, b) => a.keyId - b.keyId)).toEqual(keys);
      expect(await count(bob)).toBe(0);
      expect(await storedKeyIds(bob.id)).toEqual([]);
    };

    it('hands 50 one-time prekeys to 100 concurrent API fetches exactly once each, 50 bundles without one (two instances on Postgres)', async () => {
      const { bob, keys } = await bobWith50Keys();
      const callers = await Promise.all(Array.from({ length: 4 }, () => signUp(t)));
      const responses = await Promise.all(
        Array.from({ length: 100 }, (_, i) => fetchBundle(callers[i % callers.length], bob.id, instances[i % instances.length])),
      );
      expect(responses.map((r) => r.status)).toEqual(Array(100).fill(200));
      await expectEachKeyOnce(bob, keys, responses.map((r) => r.body.data.preKey));
    });

    it('hands each key out once when the statements really overlap (100 service calls at once, both instances on Postgres)', async () => {
      // Through HTTP the per-request work spaces the DELETEs out so they rarely meet in the
      // database; calling the service directly keeps every pooled connection busy with the
      // hand-out statement at the same moment, which is what SKIP LOCKED is for.
      const { bob, keys } = await bobWith50Keys();
      const caller = await signUp(t);
      const services = instances.map((app) => app.app.get(KeysService));
      const bundles = await Promise.all(Array.from({ length: 100 }, (_, i) => services[i % services.length].fetchBundle(caller.id, bob.id)));
      await expectEachKeyOnce(bob, keys, bundles.map((b) => b.preKey));
    });
  });

  describe('POST /api/keys/bundle', () => {
    it('accepts the boundary values: registration id 0 and 16383 (the JavaScript libsignal makes both), key ids 0 and 16777215, 200 one-time keys', async () => {
      const user = await signUp(t);
      const other = await signUp(t);
      await upload(user, { ...fakeBundle(0), registrationId: 0, signedPreKeyId: 0, oneTimePreKeys: [{ keyId: 16777215, publicKey: fakeKey() }] }).expect(201);
      expect((await t.http().get(`/api/keys/bundle/${user.id}`).set(other.auth).expect(200)).body.data.registrationId).toBe(0);
      await upload(user, { ...fakeBundle(200), registrationId: 16383, signedPreKeyId: 16777215, oneTimePreKeys: fakePreKeys(0, 200) }).expect(201);
      expect((await t.http().get(`/api/keys/bundle/${user.id}`).set(other.auth).expect(200)).body.data.registrationId).toBe(16383);
      expect(await count(user)).toBe(199);
    });

    it.each([
      ['signedPreKeySig', 'unpadded base64', (b: WireBundleUpload) => ({ ...b, signedPreKeySig: b.signedPreKeySig.replace(/=+$/, '') })],
      ['identityKey', 'padding after a full group', (b: WireBundleUpload) => ({ ...b, identityKey: `${b.identityKey}=` })],
      ['identityKey', 'not base64', (b: WireBundleUpload) => ({ ...b, identityKey: '@'.repeat(44) })],
      ['identityKey', 'url-safe base64', (b: WireBundleUpload) => ({ ...b, identityKey: Buffer.concat([Buffer.from([5]), Buffer.alloc(32, 0xff)]).toString('base64url') })],
      ['identityKey', '32 bytes without the type byte', (b: WireBundleUpload) => ({ ...b, identityKey: randomBytes(32).toString('base64') })],
      ['identityKey', 'a wrong type byte', (b: WireBundleUpload) => ({ ...b, identityKey: Buffer.concat([Buffer.from([0x06]), randomBytes(32)]).toString('base64') })],
      ['identityKey', 'a missing key', ({ identityKey: _, ...b }: WireBundleUpload) => b],
      ['signedPreKey', '34 bytes', (b: WireBundleUpload) => ({ ...b, signedPreKey: Buffer.concat([Buffer.from([5]), randomBytes(33)]).toString('base64') })],
      ['signedPreKeySig', 'a 63-byte signature', (b: WireBundleUpload) => ({ ...b, signedPreKeySig: randomBytes(63).toString('base64') })],
      ['signedPreKeySig', 'a number', (b: WireBundleUpload) => ({ ...b, signedPreKeySig: 7 })],
      ['registrationId', 'a negative registration id', (b: WireBundleUpload) => ({ ...b, registrationId: -1 })],
      ['registrationId', 'registration id 16384 (above 14 bits)', (b: WireBundleUpload) => ({ ...b, registrationId: 16384 })],
      ['registrationId', 'a fractional registration id', (b: WireBundleUpload) => ({ ...b, registrationId: 1.5 })],
      ['registrationId', 'a registration id as a string', (b: WireBundleUpload) => ({ ...b, registrationId: '42' })],
      ['signedPreKeyId', 'a negative key id', (b: WireBundleUpload) => ({ ...b, signedPreKeyId: -1 })],
      ['signedPreKeyId', 'a key id above 24 bits', (b: WireBundleUpload) => ({ ...b, signedPreKeyId: 16777216 })],
      ['oneTimePreKeys', '201 one-time keys', (b: WireBundleUpload) => ({ ...b, oneTimePreKeys: fakePreKeys(1, 201) })],
      ['oneTimePreKeys', 'a repeated key id', (b: WireBundleUpload) => ({ ...b, oneTimePreKeys: [...fakePreKeys(1, 3), { keyId: 2, publicKey: fakeKey() }] })],
      ['oneTimePreKeys', 'no list', ({ oneTimePreKeys: _, ...b }: WireBundleUpload) => b],
      ['oneTimePreKeys.0.publicKey', 'a short one-time key', (b: WireBundleUpload) => ({ ...b, oneTimePreKeys: [{ keyId: 1, publicKey: randomBytes(16).toString('base64') }] })],
      ['oneTimePreKeys.0.keyId', 'a one-time key id above 24 bits', (b: WireBundleUpload) => ({ ...b, oneTimePreKeys: [{ keyId: 2 ** 24, publicKey: fakeKey() }] })],
      ['oneTimePreKeys.0.extra', 'an unknown field in a one-time key', (b: WireBundleUpload) => ({ ...b, oneTimePreKeys: [{ keyId: 1, publicKey: fakeKey(), extra: 1 }] })],
      ['deviceId', 'an unknown field', (b: WireBundleUpload) => ({ ...b, deviceId: 1 })],
    ])('rejects %s with VALIDATION_ERROR for %s and stores nothing', async (field, _case, mutate) => {
      const user = await signUp(t);
      const res = await upload(user, mutate(fakeBundle(3))).expect(422);
      expect(res.body).toMatchObject({ success: false, code: 'VALIDATION_ERROR', errors: { [field]: expect.arrayContaining([expect.any(String)]) } });
      expect((await hasBundle(user, user.id).expect(200)).body.data).toEqual({ hasBundle: false });
    });

    it('replaces identity and signed prekey on a second upload and deletes every older one-time key', async () => {
      const [owner, peer] = [await signUp(t), await signUp(t)];
      const before = fakeBundle(5);
      await upload(owner, before).expect(201);
      await fetchBundle(peer, owner.id).expect(200);

      // After a logout the client starts over with new keys and ids from 1 again.
      const after = { ...fakeBundle(3), registrationId: 999, signedPreKeyId: 7 };
      await upload(owner, after).expect(201);
      expect(await count(owner)).toBe(3);
      const stored = await t.backend.sql<{ public_key: string }>('SELECT public_key FROM one_time_prekeys WHERE user_id = $1', [owner.id]);
      expect(stored.map((r) => r.public_key).sort()).toEqual(after.oneTimePreKeys.map((k) => k.publicKey).sort());

      const { oneTimePreKeys, ...published } = after;
      expect((await fetchBundle(peer, owner.id).expect(200)).body.data).toEqual({ ...published, preKey: oneTimePreKeys[0] });
    });
  });

  describe('GET /api/keys/bundle/:userId', () => {
    it('answers BUNDLE_NOT_FOUND for a malformed id, an unknown user and a user without a bundle', async () => {
      const [caller, bare] = [await signUp(t), await signUp(t)];
      for (const id of ['not-a-uuid', '0190f3a0-0000-7000-8000-000000000000', bare.id]) {
        const res = await fetchBundle(caller, id).expect(404);
        expect(res.body).toEqual({ success: false, code: 'BUNDLE_NOT_FOUND', message: expect.any(String) });
      }
    });

    it('refuses your own bundle with CANNOT_TARGET_SELF and consumes nothing', async () => {
      const user = await signUp(t);
      await upload(user, fakeBundle(2)).expect(201);
      expect((await fetchBundle(user, user.id).expect(422)).body.code).toBe('CANNOT_TARGET_SELF');
      expect(await count(user)).toBe(2);
    });

    it('answers BLOCKED to a user the owner has blocked, consuming nothing, and serves others', async () => {
      const [owner, blocked, other] = [await signUp(t), await signUp(t), await signUp(t)];
      await upload(owner, fakeBundle(2)).expect(201);
      await t.backend.sql('INSERT INTO blocks (blocker_id, blocked_id) VALUES ($1, $2)', [owner.id, blocked.id]);
      expect((await fetchBundle(blocked, owner.id).expect(403)).body.code).toBe('BLOCKED');
      expect((await hasBundle(blocked, owner.id).expect(403)).body.code).toBe('BLOCKED');
      expect(await count(owner)).toBe(2);
      expect((await fetchBundle(other, owner.id).expect(200)).body.data.preKey.keyId).toBe(1);
    });
  });

  describe('GET /api/keys/has-bundle/:userId', () => {
    it('tells whether a user has a bundle without consuming a one-time key', async () => {
      const [owner, caller, bare] = [await signUp(t), await signUp(t), await signUp(t)];
      await upload(owner, fakeBundle(3)).expect(201);
      for (let i = 0; i < 3; i++) expect((await hasBundle(caller, owner.id).expect(200)).body).toEqual({ success: true, data: { hasBundle: true } });
      expect((await hasBundle(owner, owner.id).expect(200)).body.data).toEqual({ hasBundle: true });
      expect((await hasBundle(caller, bare.id).expect(200)).body.data).toEqual({ hasBundle: false });
      expect(await count(owner)).toBe(3);
    });

    it('answers USER_NOT_FOUND for a malformed id or an unknown user', async () => {
      const caller = await signUp(t);
      expect((await hasBundle(caller, 'nope').expect(404)).body.code).toBe('USER_NOT_FOUND');
      expect((await hasBundle(caller, '0190f3a0-0000-7000-8000-000000000000').expect(404)).body.code).toBe('USER_NOT_FOUND');
    });
  });

  describe('POST /api/keys/replenish and GET /api/keys/count', () => {
    it('adds keys sent as preKeys or as oneTimePreKeys and counts what is left as a number', async () => {
      const user = await signUp(t);
      await upload(user, fakeBundle(2)).expect(201);
      expect((await t.http().get('/api/keys/count').set(user.auth).expect(200)).body).toEqual({ success: true, data: { count: 2 } });
      expect((await replenish(user, { preKeys: fakePreKeys(3, 3) }).expect(200)).body).toEqual({ success: true, data: { added: 3 } });
      expect((await replenish(user, { oneTimePreKeys: fakePreKeys(6, 200) }).expect(200)).body.data).toEqual({ added: 200 });
      expect(await count(user)).toBe(205);
      expect(await storedKeyIds(user.id)).toEqual(Array.from({ length: 205 }, (_, i) => i + 1));
    });

    it(`keeps at most ${MAX_STORED_PREKEYS} one-time prekeys: a call past it answers PREKEY_LIMIT and stores none of its keys; a retried call still succeeds`, async () => {
      const user = await signUp(t);
      await upload(user, fakeBundle(0)).expect(201);
      const full = MAX_STORED_PREKEYS / 200;
      for (let i = 0; i < full; i++) await replenish(user, { preKeys: fakePreKeys(1 + i * 200, 200) }).expect(200);
      expect(await count(user)).toBe(MAX_STORED_PREKEYS);
      const over = await replenish(user, { preKeys: fakePreKeys(MAX_STORED_PREKEYS + 1, 1) }).expect(400);
      expect(over.body).toMatchObject({ success: false, code: 'PREKEY_LIMIT' });
      expect(await count(user)).toBe(MAX_STORED_PREKEYS);
      // The last call again (a retry after a lost answer): nothing new, nothing refused.
      const last = await t.backend.sql<{ key_id: number; public_key: string }>(
        'SELECT key_id, public_key FROM one_time_prekeys WHERE user_id = $1 ORDER BY key_id DESC LIMIT 2',
        [user.id],
      );
      const again = last.map((k) => ({ keyId: k.key_id, publicKey: k.public_key }));
      expect((await replenish(user, { preKeys: again }).expect(200)).body.data).toEqual({ added: 0 });
    });

    it('skips keys re-sent with the same id and public key, so a retried call is harmless', async () => {
      const user = await signUp(t);
      await upload(user, fakeBundle(0)).expect(201);
      const keys = fakePreKeys(1, 4);
      await replenish(user, { preKeys: keys.slice(0, 2) }).expect(200);
      expect((await replenish(user, { preKeys: keys }).expect(200)).body.data).toEqual({ added: 2 });
      expect(await count(user)).toBe(4);
    });

    it('never stores again, so never hands out twice, a key re-sent after it was handed out (a replenish retried after its answer was lost)', async () => {
      const [owner, first, second] = [await signUp(t), await signUp(t), await signUp(t)];
      await upload(owner, fakeBundle(0)).expect(201);
      const keys = fakePreKeys(500, 1);
      await replenish(owner, { preKeys: keys }).expect(200);
      expect((await fetchBundle(first, owner.id).expect(200)).body.data.preKey).toEqual(keys[0]);
      // The same call again: skipped, as a key still stored would be.
      expect((await replenish(owner, { preKeys: keys }).expect(200)).body.data).toEqual({ added: 0 });
      expect(await count(owner)).toBe(0);
      expect((await fetchBundle(second, owner.id).expect(200)).body.data.preKey).toBeNull();
      // The same id with another key is still refused.
      expect((await replenish(owner, { preKeys: [{ keyId: 500, publicKey: fakeKey() }] }).expect(409)).body.code).toBe('PREKEY_ID_TAKEN');
    });

    it('never hands out twice a key a bundle upload sent again carries; a new identity starts afresh', async () => {
      const [owner, first, second] = [await signUp(t), await signUp(t), await signUp(t)];
      const bundle = fakeBundle(3);
      await upload(owner, bundle).expect(201);
      const handedOut = (await fetchBundle(first, owner.id).expect(200)).body.data.preKey;
      // The same upload again (its answer lost): the key handed out stays out.
      await upload(owner, bundle).expect(201);
      expect(await count(owner)).toBe(2);
      expect((await fetchBundle(second, owner.id).expect(200)).body.data.preKey).not.toEqual(handedOut);
      // A new identity (a new device, a new login): every key of the old one goes.
      await upload(owner, fakeBundle(3)).expect(201);
      expect(await count(owner)).toBe(3);
    });

    it('answers PREKEY_ID_TAKEN with the ids when a stored id comes with a different key, storing nothing of the call', async () => {
      const user = await signUp(t);
      await upload(user, fakeBundle(3)).expect(201);
      const res = await replenish(user, { preKeys: [...fakePreKeys(10, 2), { keyId: 2, publicKey: fakeKey() }, { keyId: 3, publicKey: fakeKey() }] }).expect(409);
      expect(res.body).toEqual({ success: false, code: 'PREKEY_ID_TAKEN', message: expect.any(String), keyIds: [2, 3] });
      expect(await storedKeyIds(user.id)).toEqual([1, 2, 3]);
    });

    it('answers BUNDLE_NOT_FOUND before any bundle was uploaded', async () => {
      const user = await signUp(t);
      expect((await replenish(user, { preKeys: fakePreKeys(1, 2) }).expect(404)).body.code).toBe('BUNDLE_NOT_FOUND');
      expect(await count(user)).toBe(0);
    });

    it.each([
      ['preKeys', 'no key list', {}],
      ['oneTimePreKeys', 'both spellings at once', { preKeys: fakePreKeys(1, 1), oneTimePreKeys: fakePreKeys(2, 1) }],
      ['preKeys', '201 keys', { preKeys: fakePreKeys(1, 201) }],
      ['preKeys', 'a repeated key id', { preKeys: [...fakePreKeys(1, 2), { keyId: 1, publicKey: fakeKey() }] }],
      ['preKeys.0.publicKey', 'a malformed key', { preKeys: [{ keyId: 1, publicKey: 'BQ' }] }],
      ['keys', 'an unknown field', { preKeys: fakePreKeys(1, 1), keys: [] }],
    ])('rejects %s with VALIDATION_ERROR for %s', async (field, _case, body) => {
      const user = await signUp(t);
      await upload(user, fakeBundle(0)).expect(201);
      const res = await replenish(user, body).expect(422);
      expect(res.body).toMatchObject({ code: 'VALIDATION_ERROR', errors: { [field]: expect.arrayContaining([expect.any(String)]) } });
      expect(await count(user)).toBe(0);
    });
  });

  it('refuses every key route without a session with 401', async () => {
    const someone = await signUp(t);
    const calls = [
      t.http().post('/api/keys/bundle').send(fakeBundle(1)),
      t.http().get(`/api/keys/bundle/${someone.id}`),
      t.http().get(`/api/keys/has-bundle/${someone.id}`),
      t.http().post('/api/keys/replenish').send({ preKeys: fakePreKeys(1, 1) }),
      t.http().get('/api/keys/count'),
    ];
    const responses = await Promise.all(calls);
    expect(responses.map((r) => [r.status, r.body.code])).toEqual(Array(5).fill([401, 'UNAUTHORIZED']));
  });

  it('documents every key route in /api/docs', async () => {
    const doc = (await t.http().get('/api/docs-json').expect(200)).body;
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining(['/api/keys/bundle', '/api/keys/bundle/{userId}', '/api/keys/has-bundle/{userId}', '/api/keys/replenish', '/api/keys/count']),
    );
    expect(doc.components.schemas.UploadBundleDto.required).toEqual(
      expect.arrayContaining(['registrationId', 'identityKey', 'signedPreKeyId', 'signedPreKey', 'signedPreKeySig', 'oneTimePreKeys']),
    );
    expect(doc.components.schemas.BundleDto.properties.preKey.nullable).toBe(true);
    expect(JSON.stringify(doc.paths['/api/keys/replenish'])).toContain('PREKEY_ID_TAKEN');
  });
});
