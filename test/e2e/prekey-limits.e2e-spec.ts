import { randomBytes } from 'node:crypto';
import { TEST_REDIS_URL } from '../support/env';
import { signUp, TestUser } from '../support/factories';
import { createSignalDevice, decryptFrom, encryptFor, startSession, WireBundle, WireBundleUpload, WirePreKey } from '../support/signal';
import { createTestApp, TestApp } from '../support/test-app';

const fakeKey = (): string => Buffer.concat([Buffer.from([0x05]), randomBytes(32)]).toString('base64');
const fakeBundle = (preKeyCount: number): WireBundleUpload => ({
  registrationId: 4321,
  identityKey: fakeKey(),
  signedPreKeyId: 1,
  signedPreKey: fakeKey(),
  signedPreKeySig: randomBytes(64).toString('base64'),
  oneTimePreKeys: Array.from({ length: preKeyCount }, (_, i) => ({ keyId: i + 1, publicKey: fakeKey() })),
});

/**
 * One-time prekeys against draining, at the default limits: 60 bundle fetches an hour per caller,
 * 20 one-time prekeys an hour handed out per user, `keys:low` under 20 left.
 */
describe('prekey limits', () => {
  let t: TestApp;
  // Counters live in Redis when it is configured, so a second instance shares them.
  let instances: TestApp[];
  const env = { RATE_LIMIT_BUNDLE_FETCH: '60/3600', RATE_LIMIT_PREKEY_HAND_OUT: '20/3600' };
  beforeAll(async () => {
    t = await createTestApp({ env });
    instances = TEST_REDIS_URL ? [t, await createTestApp({ backend: t.backend, env })] : [t];
  });
  afterAll(async () => {
    for (const app of instances.slice(1)) await app.close();
    await t.close();
  });

  const fetchBundle = (caller: TestUser, targetId: string, i = 0) => instances[i % instances.length].http().get(`/api/keys/bundle/${targetId}`).set(caller.auth);
  const count = async (user: TestUser): Promise<number> => (await t.http().get('/api/keys/count').set(user.auth).expect(200)).body.data.count;
  const ownerWith = async (preKeys: number): Promise<{ owner: TestUser; bundle: WireBundleUpload }> => {
    const owner = await signUp(t);
    const bundle = fakeBundle(preKeys);
    await t.http().post('/api/keys/bundle').set(owner.auth).send(bundle).expect(201);
    return { owner, bundle };
  };

  it("stops one account from draining a user's one-time prekeys: of 205 fetches at once, 20 get a key and 145 get 429", async () => {
    const { owner, bundle } = await ownerWith(200);
    const mallory = await signUp(t);
    const responses = await Promise.all(Array.from({ length: 205 }, (_, i) => fetchBundle(mallory, owner.id, i)));

    const served = responses.filter((r) => r.status === 200);
    const refused = responses.filter((r) => r.status === 429);
    expect(served.length).toBe(60);
    expect(refused.length).toBe(145);
    expect(refused[0].body).toEqual({ success: false, code: 'RATE_LIMIT', message: expect.any(String), retryAfter: expect.any(Number) });
    expect(refused[0].body.retryAfter).toBeGreaterThan(3000);
    const preKeys = served.map((r) => r.body.data.preKey).filter((k): k is WirePreKey => k !== null);
    expect(preKeys).toHaveLength(20);
    expect(new Set(preKeys.map((k) => k.keyId)).size).toBe(20);
    const { oneTimePreKeys: _, ...published } = bundle;
    for (const r of served) expect(r.body.data).toEqual({ ...published, preKey: r.body.data.preKey });
    expect(await count(owner)).toBe(180);
  });

  it('lets many accounts together take no more than 20 an hour; later callers still get a bundle that makes a working session', async () => {
    const owner = await signUp(t);
    const ownerDevice = await createSignalDevice({ preKeyCount: 100 });
    await t.http().post('/api/keys/bundle').set(owner.auth).send(ownerDevice.bundle).expect(201);
    const sybils = await Promise.all(Array.from({ length: 10 }, () => signUp(t)));
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => fetchBundle(sybils[i % sybils.length], owner.id, i)));
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200));
    expect(responses.filter((r) => r.body.data.preKey !== null).length).toBe(20);
    expect(await count(owner)).toBe(80);

    // A real peer arriving now gets the bundle without a one-time prekey, and X3DH works with it.
    const alice = await signUp(t);
    const aliceDevice = await createSignalDevice({ preKeyCount: 1 });
    const bundle: WireBundle = (await fetchBundle(alice, owner.id).expect(200)).body.data;
    expect(bundle.preKey).toBeNull();
    await startSession(aliceDevice, owner.id, bundle);
    expect(await decryptFrom(ownerDevice, alice.id, await encryptFor(aliceDevice, owner.id, 'still private'))).toBe('still private');
    expect(await count(owner)).toBe(80);
  });

  it("sends keys:low with the count left to the owner's sockets once a hand-out leaves fewer than 20", async () => {
    const { owner } = await ownerWith(22);
    const [phone, laptop] = [await t.ws({ cookie: owner.cookie }), await t.ws({ cookie: owner.cookie })];
    await Promise.all([phone.waitFor('auth:ok'), laptop.waitFor('auth:ok')]);
    const peer = await signUp(t);
    const peerSocket = await t.ws({ cookie: peer.cookie });
    await peerSocket.waitFor('auth:ok');

    for (let i = 0; i < 2; i++) await fetchBundle(peer, owner.id, i).expect(200); // 21, then 20 left
    await phone.expectNo('keys:low');
    await fetchBundle(peer, owner.id).expect(200);
    expect(await phone.waitFor('keys:low')).toEqual({ count: 19 });
    expect(await laptop.waitFor('keys:low')).toEqual({ count: 19 });
    await peerSocket.expectNo('keys:low');

    await t.http().post('/api/keys/replenish').set(owner.auth).send({ preKeys: fakeBundle(60).oneTimePreKeys.map((k) => ({ ...k, keyId: k.keyId + 100 })) }).expect(200);
    await fetchBundle(peer, owner.id).expect(200);
    await phone.expectNo('keys:low');
    for (const socket of [phone, laptop, peerSocket]) socket.close();
  });
});
