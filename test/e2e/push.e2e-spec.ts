import { randomUUID } from 'node:crypto';
import { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import request from 'supertest';
import Redis from 'ioredis';
import { Queue } from 'bullmq';
import { DataSource } from 'typeorm';
import { generateVAPIDKeys } from 'web-push';
import { WebPushRekeyOverlap1764000009950 } from '../../migrations/1764000009950-WebPushRekeyOverlap';
import { OutboundPolicy, ResolutionUnavailableError } from '../../src/core/outbound';
import { MAX_DEVICE_TOKENS_PER_SESSION, MAX_DEVICE_TOKENS_PER_USER } from '../../src/push/device-tokens.service';
import { connect, createGroup, openDirect, send } from '../support/chats';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../support/env';
import { eventually, signIn, signUp, TestUser } from '../support/factories';
import * as fixtures from '../support/media-fixtures';
import { FakePushService, PushDevice, vapidClaims } from '../support/push-service';
import { JobQueue } from '../../src/jobs/job-queue';
import { PushNotifier } from '../../src/push/push.notifier';
import { PushRepository } from '../../src/push/push.repository';
import { PushGate } from '../../src/push/push-gate';
import { spawnServer } from '../support/server-process';
import { createSignalDevice } from '../support/signal';
import { createBackend, createTestApp, describeOnEachRedis, TestApp, twoInstances } from '../support/test-app';
import { WsClient } from '../support/ws-client';

/**
 * Web Push (wire-contract-v2.2 §12) against a push service on this machine: an HTTPS server
 * with a certificate made for the run, reached through OUTBOUND_ALLOW_HOSTS. The in-process app
 * trusts that certificate through its outbound agent (NODE_EXTRA_CA_CERTS is read when a
 * process starts, before jest could set it); the last block starts the built server as its own
 * process with NODE_EXTRA_CA_CERTS, the way production trusts a private CA.
 */
describe('Web Push', () => {
  let service: FakePushService;
  let t: TestApp;
  let vapidPublicKey: string;
  // Cluster mode has no generated keys: the test configures a pair, as a deployment would.
  const clusterKeys = TEST_DATABASE_URL ? generateVAPIDKeys() : null;

  /** What every app of this file needs: the push service allowed, and in cluster mode a VAPID pair. */
  const pushEnv = () => ({
    OUTBOUND_ALLOW_HOSTS: service.hostPort,
    ...(clusterKeys ? { VAPID_PUBLIC_KEY: clusterKeys.publicKey, VAPID_PRIVATE_KEY: clusterKeys.privateKey, VAPID_SUBJECT: 'mailto:ops@h2v.test' } : {}),
  });
  // Test-only trust of the run's certificate, on the live outbound agent: every connection to
  // the push service still goes through the agent's address checks.
  const trustService = (app: TestApp) => ((app.app.get(OutboundPolicy).httpsAgent as unknown as { options: { ca?: string[] } }).options.ca = [service.caPem]);

  beforeAll(async () => {
    service = await FakePushService.start();
    t = await createTestApp({ env: pushEnv() });
    trustService(t);
    vapidPublicKey = (await t.http().get('/api/push/vapid-key').expect(200)).body.data.vapidPublicKey;
  });
  afterAll(async () => {
    await t?.close();
    await service?.close();
  });

  const users = (n: number): Promise<TestUser[]> => Promise.all(Array.from({ length: n }, () => signUp(t)));
  /** Registers a subscription the way the web client does: cookie, client header, JSON body. */
  const register = (user: TestUser, token: string, platform = 'WEB', app = t) => app.http().post('/api/users/me/device-token').set(user.browser).send({ token, platform });
  const subscribe = async (user: TestUser, app = t): Promise<PushDevice> => {
    const device = service.device();
    await register(user, device.token, 'WEB', app).expect(200);
    return device;
  };
  const tokensOf = (user: TestUser) => t.backend.sql(`SELECT id, session_id, platform, endpoint FROM device_tokens WHERE user_id = $1 ORDER BY created_at`, [user.id]);
  const endpointsOf = async (user: TestUser): Promise<string[]> => (await tokensOf(user)).map((r) => r.endpoint).sort();
  const endpoints = (devices: PushDevice[]): string[] => devices.map((d) => d.endpoint).sort();
  const sessionIdOf = async (user: TestUser): Promise<string> => (await t.http().get('/api/auth/sessions').set(user.auth).expect(200)).body.data.find((s: { isCurrent: boolean }) => s.isCurrent).id;

  /** `a` sends `text` to `b` (subscribed, offline) in a direct chat; resolves once b's device has its push and every job has run. */
  async function pushedDirect(text: string) {
    const [a, b] = await users(2);
    const device = await subscribe(b);
    const chatId = await openDirect(t, a, b);
    const aws = await connect(t, a);
    const message = await send(aws, chatId, text);
    await service.waitFor(device, 1);
    await t.drainJobs();
    return { a, device, chatId, aws, message };
  }

  /**
   * Waits until `sentinel`, notified of the same message (or a later one) as the members under
   * test, has its `count` pushes, and every job has run: a push that was going to reach anyone
   * else by then has reached them.
   */
  async function settle(sentinel: PushDevice, count: number): Promise<void> {
    await service.waitFor(sentinel, count);
    await t.drainJobs();
  }

  describe('GET /api/push/vapid-key', () => {
    it('answers the base64url P-256 public key without a session, and never 401 with a stale one', async () => {
      expect(Buffer.from(vapidPublicKey, 'base64url')).toHaveLength(65);
      expect(Buffer.from(vapidPublicKey, 'base64url')[0]).toBe(4);
      const stale = await t.http().get('/api/push/vapid-key').set('Cookie', 'h2v_session=ended-session-token').expect(200);
      expect(stale.body).toEqual({ success: true, data: { vapidPublicKey } });
      await t.http().get('/api/push/vapid-key').set('Authorization', 'Bearer nope').expect(200);
    });

    if (TEST_DATABASE_URL) {
      it('answers null in cluster mode when no keys are configured (push is off)', async () => {
        const bare = await createTestApp();
        try {
          expect((await bare.http().get('/api/push/vapid-key').expect(200)).body.data).toEqual({ vapidPublicKey: null });
        } finally {
          await bare.close();
        }
      });
    } else {
      it('uses the pair generated into DATA_DIR in the embedded mode', () => {
        const stored = JSON.parse(readFileSync(join(t.backend.env.DATA_DIR!, '.vapid-keys.json'), 'utf8'));
        expect(stored.publicKey).toBe(vapidPublicKey);
      });
    }
  });

  describe('POST /api/users/me/device-token', () => {
    it('stores a subscription for the registering session, upserts it by token, and moves it to whoever registers it', async () => {
      const [a, b] = await users(2);
      const device = service.device();
      const first = (await register(a, device.token).expect(200)).body;
      expect(first).toEqual({ success: true, data: { id: expect.any(String) } });
      expect(await tokensOf(a)).toEqual([{ id: first.data.id, session_id: await sessionIdOf(a), platform: 'WEB', endpoint: device.endpoint }]);

      // The client registers again on every start and login: same row, now on the new session.
      const aAgain = await signIn(t, a.email);
      expect((await register(aAgain, device.token).expect(200)).body.data.id).toBe(first.data.id);
      expect(await tokensOf(a)).toEqual([expect.objectContaining({ id: first.data.id, session_id: await sessionIdOf(aAgain) })]);

      // Another account signs in on that browser.
      expect((await register(b, device.token).expect(200)).body.data.id).toBe(first.data.id);
      expect(await tokensOf(a)).toEqual([]);
      expect(await tokensOf(b)).toEqual([expect.objectContaining({ id: first.data.id, session_id: await sessionIdOf(b) })]);
    });

    it('keeps one row per browser subscription however its JSON is spelled: another spelling moves it, and deletes it', async () => {
      const [a, b] = await users(2);
      const device = service.device();
      const id = (await register(a, device.token).expect(200)).body.data.id;
      const { endpoint, keys } = JSON.parse(device.token) as { endpoint: string; keys: { p256dh: string; auth: string } };
      // The same subscription, keys first, without expirationTime, with spaces.
      const respelled = JSON.stringify({ keys: { auth: keys.auth, p256dh: keys.p256dh }, endpoint }, null, 1);
      expect(respelled).not.toBe(device.token);
      expect((await register(b, respelled).expect(200)).body.data.id).toBe(id);
      expect(await tokensOf(a)).toEqual([]);
      expect(await t.backend.sql('SELECT user_id FROM device_tokens WHERE endpoint = $1', [device.endpoint])).toEqual([{ user_id: b.id }]);
      // The web client unsubscribes with its own spelling.
      await t.http().delete('/api/users/me/device-token').send({ token: device.token }).expect(200);
      expect(await tokensOf(b)).toEqual([]);
    });

    it("replaces a row an older release keyed by the subscription's JSON (a rolling deploy), and deletes it on unregister", async () => {
      const [a, b, c] = await users(3);
      const device = service.device();
      // What an instance of a release before 1764000009910 writes: the row keyed by the JSON as sent.
      const legacyRow = async (user: TestUser) => {
        await t.backend.sql(
          `INSERT INTO device_tokens (id, user_id, session_id, platform, token, token_hash, endpoint, p256dh, auth)
           SELECT gen_random_uuid(), $1, s.id, 'WEB', $2, sha256(convert_to($2, 'UTF8')), $3, 'p', 'a' FROM sessions s WHERE s.user_id = $1 LIMIT 1`,
          [user.id, device.token, device.endpoint],
        );
      };
      await legacyRow(a);
      await register(b, device.token).expect(200);
      expect(await t.backend.sql('SELECT user_id FROM device_tokens WHERE endpoint = $1', [device.endpoint])).toEqual([{ user_id: b.id }]);

      await legacyRow(c);
      await t.http().delete('/api/users/me/device-token').set(b.auth).send({ token: device.token }).expect(200);
      expect(await t.backend.sql('SELECT user_id FROM device_tokens WHERE endpoint = $1', [device.endpoint])).toEqual([]);
    });

    it('migration 1764000009950 re-keys a browser row an older release keyed by its JSON, even where a native token holds that key', async () => {
      const [a, b] = await users(2);
      const device = service.device();
      await t.backend.sql(
        `INSERT INTO device_tokens (id, user_id, session_id, platform, token, token_hash, endpoint, p256dh, auth)
         SELECT gen_random_uuid(), $1, s.id, 'WEB', $2, sha256(convert_to($2, 'UTF8')), $3, 'p', 'a' FROM sessions s WHERE s.user_id = $1 LIMIT 1`,
        [a.id, device.token, device.endpoint],
      );
      // Any string is a native token: this one has the key the browser row is about to take.
      await register(b, `web:${device.endpoint}`, 'ANDROID').expect(200);
      const runner = t.app.get(DataSource).createQueryRunner();
      await runner.startTransaction();
      try {
        await new WebPushRekeyOverlap1764000009950().up(runner);
        await runner.commitTransaction();
      } catch (error) {
        await runner.rollbackTransaction();
        throw error;
      } finally {
        await runner.release();
      }
      expect(await t.backend.sql(`SELECT user_id, platform, token_hash = sha256(convert_to('web:' || $1, 'UTF8')) AS keyed FROM device_tokens WHERE user_id IN ($2, $3)`, [device.endpoint, a.id, b.id])).toEqual([
        { user_id: a.id, platform: 'WEB', keyed: true },
      ]);
    });

    it('stores IOS and ANDROID tokens as they are (nothing is sent to them)', async () => {
      const [a] = await users(1);
      await register(a, 'apns-token-0123456789abcdef', 'IOS').expect(200);
      await register(a, 'fcm:token', 'ANDROID').expect(200);
      expect((await tokensOf(a)).map((r) => [r.platform, r.endpoint])).toEqual([
        ['IOS', null],
        ['ANDROID', null],
      ]);
    });

    it('refuses malformed tokens and platforms with 422', async () => {
      const [a] = await users(1);
      const device = service.device();
      const subscription = JSON.parse(device.token);
      const bad: Array<[string, unknown]> = [
        ['no token', { platform: 'WEB' }],
        ['an unknown platform', { token: device.token, platform: 'WINDOWS' }],
        ['a token over 4096 characters', { token: 'x'.repeat(4097), platform: 'IOS' }],
        ['an empty token', { token: '', platform: 'ANDROID' }],
        ['WEB, not JSON', { token: 'not json', platform: 'WEB' }],
        ['WEB, an http endpoint', { token: JSON.stringify({ ...subscription, endpoint: `http://${service.hostPort}/x` }), platform: 'WEB' }],
        ['WEB, without keys', { token: JSON.stringify({ endpoint: device.endpoint }), platform: 'WEB' }],
        ['WEB, without auth', { token: JSON.stringify({ ...subscription, keys: { p256dh: subscription.keys.p256dh } }), platform: 'WEB' }],
      ];
      for (const [label, body] of bad) {
        const res = await t.http().post('/api/users/me/device-token').set(a.browser).send(body as object);
        expect([label, res.status, res.body.code]).toEqual([label, 422, 'VALIDATION_ERROR']);
      }
      expect(await tokensOf(a)).toEqual([]);
    });

    it('refuses, with 422, endpoints on private, loopback and link-local addresses, and ports not allowed', async () => {
      const [a] = await users(1);
      const { keys } = JSON.parse(service.device().token);
      for (const endpoint of ['https://10.0.0.1/x', 'https://127.0.0.1/x', 'https://[::1]/x', 'https://169.254.169.254/latest', 'https://192.168.1.10/push', `https://127.0.0.1:${service.port + 1}/x`]) {
        const res = await register(a, JSON.stringify({ endpoint, expirationTime: null, keys }));
        expect([endpoint, res.status, res.body.code]).toEqual([endpoint, 422, 'VALIDATION_ERROR']);
        expect(res.body.errors.token).toEqual([expect.stringContaining('may not be contacted')]);
      }
      // A name is refused without saying what it resolved to, or whether it resolved at all: no map of internal names.
      const told = [];
      for (const endpoint of ['https://localhost/x', 'https://no-such-host.invalid/x']) {
        const res = await register(a, JSON.stringify({ endpoint, expirationTime: null, keys }));
        expect([endpoint, res.status, res.body.code]).toEqual([endpoint, 422, 'VALIDATION_ERROR']);
        told.push(res.body.errors.token[0]);
      }
      expect(told[0]).toBe(told[1]);
      expect(told[0]).not.toMatch(/127\.0\.0\.1|::1|localhost|resolve/);
      expect(await tokensOf(a)).toEqual([]);
    });

    it('answers 503, not 422, when the endpoint could not be checked now (its DNS timed out, or too many resolutions wait): the client tries again later', async () => {
      const [a] = await users(1);
      for (const kind of ['TIMEOUT', 'BUSY'] as const) {
        const check = jest.spyOn(OutboundPolicy.prototype, 'check').mockRejectedValueOnce(new ResolutionUnavailableError(kind, 'given up'));
        try {
          const res = await register(a, service.device().token);
          expect([kind, res.status, res.body.code]).toEqual([kind, 503, 'SERVICE_UNAVAILABLE']);
        } finally {
          check.mockRestore();
        }
      }
      expect(await tokensOf(a)).toEqual([]);
    });

    it(`keeps a session's ${MAX_DEVICE_TOKENS_PER_SESSION} most recently registered tokens: one more evicts the least recently registered`, async () => {
      const [a] = await users(1);
      const devices = Array.from({ length: MAX_DEVICE_TOKENS_PER_SESSION + 1 }, () => service.device());
      const [first, second] = devices;
      for (const device of devices.slice(0, -1)) await register(a, device.token).expect(200);
      // The client registers its subscription again on every start: the same token, not one more, and now the most recent.
      await register(a, first.token).expect(200);
      expect(await endpointsOf(a)).toEqual(endpoints(devices.slice(0, -1)));

      await register(a, devices[devices.length - 1].token).expect(200);
      expect(await endpointsOf(a)).toEqual(endpoints(devices.filter((d) => d !== second)));
    });

    it(`keeps a user's ${MAX_DEVICE_TOKENS_PER_USER} most recently registered tokens over all their sessions`, async () => {
      const [a] = await users(1);
      const sessionCount = Math.ceil((MAX_DEVICE_TOKENS_PER_USER + 1) / MAX_DEVICE_TOKENS_PER_SESSION);
      const sessions = [a];
      while (sessions.length < sessionCount) sessions.push(await signIn(t, a.email));
      const devices = Array.from({ length: MAX_DEVICE_TOKENS_PER_USER + 1 }, () => service.device());
      const sessionOf = (i: number) => sessions[i % sessions.length];
      for (const [i, device] of devices.slice(0, -1).entries()) await register(sessionOf(i), device.token).expect(200);
      expect(await endpointsOf(a)).toEqual(endpoints(devices.slice(0, -1)));
      // Registering again, from the same session or from another of the user's, moves nothing past the cap.
      await register(sessionOf(0), devices[0].token).expect(200);
      await register(sessionOf(3), devices[1].token).expect(200);
      expect(await endpointsOf(a)).toEqual(endpoints(devices.slice(0, -1)));

      const last = devices.length - 1;
      await register(sessionOf(last), devices[last].token).expect(200);
      // Past the user's cap (no session's): devices[2] is now the least recently registered.
      expect(await endpointsOf(a)).toEqual(endpoints(devices.filter((_, i) => i !== 2)));
      expect(await tokensOf(a)).toHaveLength(MAX_DEVICE_TOKENS_PER_USER);
    });

    it('holds the caps when registrations of one user arrive at once', async () => {
      const [a] = await users(1);
      const phone = await signIn(t, a.email);
      const devices = Array.from({ length: 4 * MAX_DEVICE_TOKENS_PER_SESSION }, () => service.device());
      await Promise.all(devices.map((device, i) => register(i % 2 ? phone : a, device.token).expect(200)));
      const rows = await tokensOf(a);
      expect(rows.filter((r) => r.session_id === rows[0].session_id)).toHaveLength(MAX_DEVICE_TOKENS_PER_SESSION);
      expect(rows).toHaveLength(2 * MAX_DEVICE_TOKENS_PER_SESSION);
    });

    it('needs a session (401) and, with the cookie, the client header (403 CSRF_REJECTED)', async () => {
      const [a] = await users(1);
      const device = service.device();
      expect((await t.http().post('/api/users/me/device-token').send({ token: device.token, platform: 'WEB' }).expect(401)).body.code).toBe('UNAUTHORIZED');
      expect((await t.http().post('/api/users/me/device-token').set('Cookie', a.cookie).send({ token: device.token, platform: 'WEB' }).expect(403)).body.code).toBe('CSRF_REJECTED');
      expect(await tokensOf(a)).toEqual([]);
    });
  });

  describe('the token ends with its session', () => {
    it('DELETE removes it by the token alone after logout, without a session, and never answers 401', async () => {
      const [a] = await users(1);
      const device = await subscribe(a);
      const other = await subscribe(a);
      // The web client's order: logout, then unsubscribe with the now dead cookie and its header.
      await t.http().post('/api/auth/logout').set(a.browser).expect(200);
      expect(await tokensOf(a)).toEqual([]);
      const gone = await t.http().delete('/api/users/me/device-token').set(a.browser).send({ token: device.token }).expect(200);
      expect(gone.body).toEqual({ success: true, data: { message: 'removed' } });
      // Without any session, and for a token that is no longer there: 200 again.
      await t.http().delete('/api/users/me/device-token').set('Content-Type', 'application/json').send({ token: other.token }).expect(200);
      expect((await t.http().delete('/api/users/me/device-token').send({}).expect(422)).body.code).toBe('VALIDATION_ERROR');
    });

    it('DELETE removes a live token whoever calls it', async () => {
      const [a] = await users(1);
      const device = await subscribe(a);
      await t.http().delete('/api/users/me/device-token').send({ token: device.token }).expect(200);
      expect(await tokensOf(a)).toEqual([]);
    });

    it('terminating the registering session drops its tokens, and only its', async () => {
      const [a] = await users(1);
      const phone = await signIn(t, a.email);
      await subscribe(a);
      const kept = await subscribe(phone);
      await t.http().delete(`/api/auth/sessions/${await sessionIdOf(a)}`).set(phone.auth).expect(200);
      expect((await tokensOf(a)).map((r) => r.endpoint)).toEqual([kept.endpoint]);
    });

    it('deleting the account drops its tokens', async () => {
      const [a] = await users(1);
      await subscribe(a);
      await t.http().delete('/api/users/me').set(a.auth).expect(200);
      expect(await t.backend.sql(`SELECT id FROM device_tokens WHERE user_id = $1`, [a.id])).toEqual([]);
    });
  });

  describe('notifications', () => {
    it('pushes a new message to an offline member: encrypted for their keys, signed with the VAPID key, shown as the contract says', async () => {
      const [a, b] = await users(2);
      const upload = (await t.http().post('/api/upload').set(a.auth).attach('file', await fixtures.image('png'), 'me.png').expect(201)).body.data;
      await t.http().patch('/api/users/me').set(a.auth).send({ firstName: 'Alice', lastName: 'Liddell', avatar: upload.url }).expect(200);
      const device = await subscribe(b);
      const chatId = await openDirect(t, a, b);
      const aws = await connect(t, a);
      await send(aws, chatId, 'Down the rabbit hole');
      await service.waitFor(device);

      const [push] = device.received();
      expect(push.headers['content-encoding']).toBe('aes128gcm');
      expect(push.headers.ttl).toBe('86400');
      expect(push.headers.urgency).toBe('high');
      expect(push.headers.topic).toBe(chatId.replace(/-/g, ''));
      const claims = vapidClaims(push, vapidPublicKey);
      expect(claims.aud).toBe(`https://${service.hostPort}`);
      expect(claims.sub).toMatch(/^mailto:/);
      expect(claims.exp * 1000).toBeGreaterThan(Date.now());
      expect(device.payloads()).toEqual([{ title: 'Alice Liddell', body: 'Down the rabbit hole', icon: `${t.url}${upload.url}`, data: { chatId } }]);
      aws.close();
    });

    it('cuts the body to 200 characters, shows media as "📎 Media", and a secret chat as "Encrypted message"', async () => {
      const [a, b] = await users(2);
      const device = await subscribe(b);
      const chatId = await openDirect(t, a, b);
      const aws = await connect(t, a);
      await send(aws, chatId, 'ж'.repeat(300));
      await service.waitFor(device, 1);
      await t.drainJobs();
      const photo = (await t.http().post('/api/upload').set(a.auth).attach('file', await fixtures.image('jpeg'), 'p.jpg').expect(201)).body.data;
      await send(aws, chatId, '', { mediaUrl: photo.url });
      await service.waitFor(device, 2);
      await t.drainJobs();

      await t.http().post('/api/keys/bundle').set(b.auth).send((await createSignalDevice({ preKeyCount: 1 })).bundle).expect(201);
      const secretId = (await t.http().post('/api/chats/secret').set(a.auth).send({ targetUserId: b.id }).expect(200)).body.data.id;
      const clientMessageId = randomUUID();
      aws.send('message:send', { chatId: secretId, ciphertext: 'c2VjcmV0IGJ5dGVz', signalType: 3, clientMessageId });
      await aws.waitFor('message:new', (m) => m.clientMessageId === clientMessageId);
      await service.waitFor(device, 3);

      expect(device.payloads().map((p) => [p.body, p.data.chatId])).toEqual([
        ['ж'.repeat(200), chatId],
        ['📎 Media', chatId],
        ['Encrypted message', secretId],
      ]);
      expect(JSON.stringify(device.payloads())).not.toContain('c2VjcmV0IGJ5dGVz');
      aws.close();
    });

    it('skips members with an open, non-away socket; an away socket does not count', async () => {
      const [a, b, c] = await users(3);
      const [bDevice, cDevice] = [await subscribe(b), await subscribe(c)];
      const groupId = await createGroup(t, a, [b, c]);
      const [aws, bws] = [await connect(t, a), await connect(t, b)];
      await send(aws, groupId, 'b is here');
      await settle(cDevice, 1);
      expect(bDevice.received()).toEqual([]);

      bws.send('presence:away');
      bws.send('test:sentinel');
      await bws.waitFor('error', (p) => p.code === 'UNKNOWN_EVENT');
      await send(aws, groupId, 'b looked away');
      await service.waitFor(bDevice, 1);
      expect(bDevice.payloads().map((p) => p.body)).toEqual(['b looked away']);
      aws.close();
      bws.close();
    });

    it('skips members who muted the chat or turned notifDesktop off, and the sender', async () => {
      const [a, muted, quiet, c] = await users(4);
      const devices = { a: await subscribe(a), muted: await subscribe(muted), quiet: await subscribe(quiet), c: await subscribe(c) };
      const groupId = await createGroup(t, a, [muted, quiet, c]);
      await t.http().patch(`/api/chats/${groupId}/mute`).set(muted.auth).send({ muted: true }).expect(200);
      await t.http().put('/api/users/me/settings').set(quiet.auth).send({ notifDesktop: false }).expect(200);
      // The sender's own subscription stays quiet too: the sender is online here, but would be skipped anyway.
      const aws = await connect(t, a);
      await send(aws, groupId, 'anyone?');
      await settle(devices.c, 1);
      expect([devices.a.received(), devices.muted.received(), devices.quiet.received()]).toEqual([[], [], []]);

      await t.http().patch(`/api/chats/${groupId}/mute`).set(muted.auth).send({ muted: false }).expect(200);
      await send(aws, groupId, 'unmuted');
      await service.waitFor(devices.muted, 1);
      expect(devices.muted.payloads().map((p) => p.body)).toEqual(['unmuted']);
      aws.close();
    });

    it('deletes a subscription the push service answers 410 (or 404) for', async () => {
      const [a, b] = await users(2);
      const [gone, missing] = [await subscribe(b), await subscribe(b)];
      service.respond(gone, 410);
      service.respond(missing, 404);
      const chatId = await openDirect(t, a, b);
      const aws = await connect(t, a);
      await send(aws, chatId, 'are you there?');
      await service.waitFor(gone, 1);
      await service.waitFor(missing, 1);
      await eventually(async () => expect(await tokensOf(b)).toEqual([]));
      aws.close();
    });

    it('retries a notification the push service answers 503 or 429 for, keeping the subscription; a 410 on a retry deletes it', async () => {
      const [a, b] = await users(2);
      const [unavailable, limited, goneLater] = [await subscribe(b), await subscribe(b), await subscribe(b)];
      service.respond(unavailable, 503, { times: 1 });
      service.respond(limited, 429, { times: 1, headers: { 'Retry-After': '1' } });
      service.respond(goneLater, 500, { times: 1 });
      service.respond(goneLater, 410);
      const chatId = await openDirect(t, a, b);
      const aws = await connect(t, a);
      await send(aws, chatId, 'second time lucky');
      for (const device of [unavailable, limited, goneLater]) await service.waitFor(device, 2);
      await t.drainJobs();

      expect(unavailable.received().map((r) => r.status)).toEqual([503, 201]);
      expect(limited.received().map((r) => r.status)).toEqual([429, 201]);
      expect(goneLater.received().map((r) => r.status)).toEqual([500, 410]);
      // The retry is the same notification, again encrypted for the device.
      for (const device of [unavailable, limited]) expect(device.payloads().map((p) => [p.body, p.data.chatId])).toEqual([['second time lucky', chatId], ['second time lucky', chatId]]);
      expect(await endpointsOf(b)).toEqual(endpoints([unavailable, limited]));
      aws.close();
    });

    it('never contacts a stored endpoint the outbound policy now refuses, and deletes that subscription', async () => {
      const [a, b, c] = await users(3);
      const [bDevice, sentinel] = [await subscribe(b), await subscribe(c)];
      // As if the name had come to resolve to loopback (or the allow-list had changed) since registration.
      const endpoint = 'https://127.0.0.1/push/rebound';
      await t.backend.sql(`UPDATE device_tokens SET endpoint = $1 WHERE user_id = $2`, [endpoint, b.id]);
      const groupId = await createGroup(t, a, [b, c]);
      const aws = await connect(t, a);
      await send(aws, groupId, 'knock knock');
      await settle(sentinel, 1);
      await eventually(async () => expect(await tokensOf(b)).toEqual([]));
      expect(bDevice.received()).toEqual([]);
      aws.close();
    });

    it('coalesces a burst: one notification on its way per chat, then one with the newest message', async () => {
      const [a, b, c] = await users(3);
      const [bDevice, sentinel] = [await subscribe(b), await subscribe(c)];
      const chatId = await openDirect(t, a, b);
      const otherChat = await openDirect(t, a, c);
      const aws = await connect(t, a);
      const release = service.hold(bDevice);
      for (let i = 1; i <= 20; i++) await send(aws, chatId, `message ${i}`);
      // The first notification is at the push service, unanswered; the burst's fan-outs ran before the sentinel's.
      await service.waitFor(bDevice, 1);
      await send(aws, otherChat, 'sentinel');
      await service.waitFor(sentinel, 1);
      release();
      await t.drainJobs();
      const bodies = bDevice.payloads().map((p) => p.body);
      expect(bodies.length).toBeGreaterThanOrEqual(1);
      expect(bodies.length).toBeLessThanOrEqual(3);
      expect(bodies[bodies.length - 1]).toBe('message 20');
      expect(bDevice.payloads().every((p) => p.data.chatId === chatId)).toBe(true);
      aws.close();
    });

    it('never pushes a message twice: a fan-out run again (a retry, a stalled job) finds it already notified', async () => {
      const { device, chatId, aws, message: first } = await pushedDirect('once only');
      await t.app.get(JobQueue).add('push', { messageIds: [first.id] });
      await t.drainJobs();
      expect(device.payloads().map((p) => p.body)).toEqual(['once only']);
      // A newer message is still pushed, and the record of the older one does not hold it back.
      await send(aws, chatId, 'and then this');
      await service.waitFor(device, 2);
      await t.drainJobs();
      expect(device.payloads().map((p) => p.body)).toEqual(['once only', 'and then this']);
      aws.close();
    });

    it('notifies every offline member of messages sent at the same moment into different chats (one fan-out may carry them all)', async () => {
      const senders = await users(4);
      const recipients = await users(4);
      const devices = await Promise.all(recipients.map((r) => subscribe(r)));
      const chats = await Promise.all(senders.map((s, i) => openDirect(t, s, recipients[i])));
      const sockets = await Promise.all(senders.map((s) => connect(t, s)));
      await Promise.all(sockets.map((ws, i) => send(ws, chats[i], `at once ${i}`)));
      await Promise.all(devices.map((d) => service.waitFor(d, 1)));
      await t.drainJobs();
      devices.forEach((device, i) => expect(device.payloads()).toEqual([expect.objectContaining({ body: `at once ${i}`, data: { chatId: chats[i] } })]));
      for (const ws of sockets) ws.close();
    });

    if (TEST_REDIS_URL) {
      it("follows no BullMQ events of the push queue (nobody waits for a fan-out's outcome), only the email queue's", async () => {
        const redis = new Redis(TEST_REDIS_URL!);
        try {
          const names = ((await redis.client('LIST')) as string).split('\n').map((line) => /\bname=(\S*)/.exec(line)?.[1]);
          expect(names).toContain('h2v:events:email');
          expect(names).not.toContain('h2v:events:push');
          expect(names).not.toContain('h2v:events:media');
          expect(names).toContain('h2v:worker:push');
        } finally {
          redis.disconnect();
        }
      });

      it("the shared gate keeps the highest notified seq, comparing them as numbers ('10' over '9')", async () => {
        const gate = t.app.get(PushGate);
        const [subscription, chat] = [randomUUID(), randomUUID()];
        expect(await gate.notified(subscription, chat)).toBeNull();
        await gate.noteNotified(subscription, chat, 10n);
        await gate.noteNotified(subscription, chat, 9n);
        expect(await gate.notified(subscription, chat)).toBe(10n);
        await gate.noteNotified(subscription, chat, 100n);
        expect(await gate.notified(subscription, chat)).toBe(100n);
      });

      // A rolling deploy: workers of the release before read `push` jobs as `{messageId}` on the
      // `push` queue, so a batch must never land there; the jobs they queued must still be run.
      it('queues a batch on push-fanout, where a worker of the release before never looks, and still runs a {messageId} job on push', async () => {
        const connection = new Redis(TEST_REDIS_URL!, { maxRetriesPerRequest: null });
        const prefix = `${t.backend.env.REDIS_PREFIX}:bull`;
        const [fanouts, pushes] = ['push-fanout', 'push'].map((name) => new Queue(name, { prefix, connection }));
        try {
          const { a, aws, message: notified } = await pushedDirect('batched');
          const [c] = await users(1);
          const states = ['completed', 'active', 'waiting', 'delayed', 'failed'] as const;
          expect((await fanouts.getJobs([...states])).some((job) => job.name === 'push' && job.data.messageIds?.includes(notified.id))).toBe(true);
          expect((await pushes.getJobs([...states])).filter((job) => job.name === 'push' && 'messageIds' in job.data)).toEqual([]);

          // A message whose recipient subscribed after it was stored: only the legacy job notifies.
          const cChat = await openDirect(t, a, c);
          const legacy = await send(aws, cChat, 'queued by the release before');
          await t.drainJobs();
          const cDevice = await subscribe(c);
          await pushes.add('push', { messageId: legacy.id });
          await service.waitFor(cDevice, 1);
          expect(cDevice.payloads()).toEqual([expect.objectContaining({ body: 'queued by the release before', data: { chatId: cChat } })]);
          aws.close();
        } finally {
          await Promise.all([fanouts.close(), pushes.close()]);
          connection.disconnect();
        }
      });
    }

    it('sends nothing for a session that logged out, nor to an endpoint left unregistered', async () => {
      const [a, b, c] = await users(3);
      const bDevice = await subscribe(b);
      const sentinel = await subscribe(c);
      await t.http().post('/api/auth/logout').set(b.browser).expect(200);
      const groupId = await createGroup(t, a, [b, c]);
      const aws = await connect(t, a);
      await send(aws, groupId, 'hello?');
      await settle(sentinel, 1);
      expect(bDevice.received()).toEqual([]);
      aws.close();
    });

    it('skips the messages of someone the member blocked, and shows the next one from someone else', async () => {
      const [a, b, c] = await users(3);
      const [bDevice, cDevice] = [await subscribe(b), await subscribe(c)];
      const groupId = await createGroup(t, a, [b, c]);
      await t.http().post(`/api/users/${a.id}/block`).set(c.auth).expect(200);
      const aws = await connect(t, a);
      await send(aws, groupId, 'from the blocked');
      await settle(bDevice, 1);
      expect(cDevice.payloads()).toEqual([]);
      const bws = await connect(t, b);
      await send(bws, groupId, 'from b');
      await settle(cDevice, 1);
      expect(cDevice.payloads().map((p) => p.body)).toEqual(['from b']);
      aws.close();
      bws.close();
    });

    it("shows the avatar of a sender with showAvatar 'contacts' only once the recipient is in the sender's contacts", async () => {
      const [a, b] = await users(2);
      const avatar = (await t.http().post('/api/upload').set(a.auth).attach('file', await fixtures.image('png'), 'me.png').expect(201)).body.data.url;
      await t.http().patch('/api/users/me').set(a.auth).send({ avatar }).expect(200);
      await t.http().put('/api/users/me/settings').set(a.auth).send({ showAvatar: 'contacts' }).expect(200);
      const device = await subscribe(b);
      const chatId = await openDirect(t, a, b);
      const aws = await connect(t, a);
      await send(aws, chatId, 'a stranger');
      await settle(device, 1);
      await t.http().post(`/api/contacts/${b.id}`).set(a.auth).expect(200);
      await send(aws, chatId, 'a contact');
      await settle(device, 2);
      expect(device.payloads().map((p) => [p.body, p.icon])).toEqual([
        ['a stranger', undefined],
        ['a contact', `${t.url}${avatar}`],
      ]);
      aws.close();
    });

    it('shows the newest message the member has not hidden, and nothing once they hid them all', async () => {
      const [a, b] = await users(2);
      const subscriptionId = (await register(a, service.device().token).expect(200)).body.data.id;
      const chatId = await openDirect(t, b, a);
      const bws = await connect(t, b);
      const older = await send(bws, chatId, 'older');
      const newer = await send(bws, chatId, 'newer');
      await t.drainJobs();
      // What the next push for the chat would show (a retry, a coalesced one), asked directly: a hide sends nothing itself.
      const delivery = () => t.app.get(PushRepository).delivery(subscriptionId, chatId);
      await t.http().post(`/api/messages/${newer.id}/hide`).set(a.auth).expect(200);
      expect((await delivery())?.message.text).toBe('older');
      await t.http().post(`/api/messages/${older.id}/hide`).set(a.auth).expect(200);
      expect(await delivery()).toBeNull();
      bws.close();
    });
  });

  describeOnEachRedis('across two instances', (redis) => {
    describe('presence', () => {
      // Instance two runs no job workers: every fan-out runs on one, which must see the socket b holds on two.
      const pair = twoInstances((i) => ({ ...pushEnv(), ...(i === 1 ? { WORKERS: 'off' } : {}) }), redis);
      beforeAll(() => [pair.one, pair.two].forEach(trustService));

      it('sends no push to a member whose socket is on the other instance, and one once that socket closed', async () => {
        const { one, two } = pair;
        const [a, b, c] = [await signUp(one), await signUp(two), await signUp(one)];
        const [bDevice, sentinel] = [await subscribe(b, two), await subscribe(c, one)];
        const groupId = await createGroup(one, a, [b, c]);
        const bws = await connect(two, b);
        const aws = await connect(one, a);
        await send(aws, groupId, 'b is on instance two');
        await service.waitFor(sentinel, 1);
        await one.drainJobs();
        expect(bDevice.received()).toEqual([]);

        bws.close();
        await aws.waitFor('user:offline', (p) => p.userId === b.id);
        await send(aws, groupId, 'b has left');
        await service.waitFor(bDevice, 1);
        expect(bDevice.payloads().map((p) => p.body)).toEqual(['b has left']);
        aws.close();
      });
    });

    describe('coalescing', () => {
      // Both instances run workers: the burst's fan-outs are shared between them.
      const pair = twoInstances(() => pushEnv(), redis);
      beforeAll(() => [pair.one, pair.two].forEach(trustService));

      it('keeps one notification on its way per chat while fan-outs run on both instances', async () => {
        const { one, two } = pair;
        const [a, b] = [await signUp(one), await signUp(one)];
        const bDevice = await subscribe(b, one);
        const chatId = await openDirect(one, a, b);
        const senders = [await connect(one, a), await connect(two, a)];
        const release = service.hold(bDevice);
        for (let i = 1; i <= 20; i++) await send(senders[i % 2], chatId, `message ${i}`);
        await service.waitFor(bDevice, 1);
        // Every fan-out has run once the push queue holds nothing but the delivery the push service keeps waiting.
        await eventually(async () => {
          await Promise.all([one, two].map((app) => app.app.get(PushNotifier).queued()));
          const depth = (await one.app.get(JobQueue).depth()).filter((d) => d.queue.startsWith('push') && d.state !== 'failed' && d.count > 0);
          expect(depth).toEqual([{ queue: 'push', state: 'active', count: 1 }]);
        }, 10_000);
        expect(bDevice.received().length + service.heldCount(bDevice)).toBe(1);

        release();
        await one.drainJobs();
        const bodies = bDevice.payloads().map((p) => p.body);
        expect(bodies.length).toBeLessThanOrEqual(2);
        expect(bodies[bodies.length - 1]).toBe('message 20');
        senders.forEach((ws) => ws.close());
      });
    });
  });

  /**
   * The built server as its own process, trusting the push service's certificate through
   * NODE_EXTRA_CA_CERTS (read once, at start), with the real outbound agent and no test hook.
   */
  describe('as a separate process trusting the push service through NODE_EXTRA_CA_CERTS', () => {
    let child: ChildProcess | null = null;
    afterAll(() => child?.kill('SIGTERM'));

    it('delivers a decryptable notification to an offline user', async () => {
      const backend = await createBackend();
      try {
        const caFile = join(backend.env.DATA_DIR!, 'push-ca.pem');
        writeFileSync(caFile, service.caPem);
        const keys = generateVAPIDKeys();
        const env: NodeJS.ProcessEnv = {
          PATH: process.env.PATH,
          ...backend.env,
          LOG_LEVEL: 'warn',
          NODE_EXTRA_CA_CERTS: caFile,
          OUTBOUND_ALLOW_HOSTS: service.hostPort,
          VAPID_PUBLIC_KEY: keys.publicKey,
          VAPID_PRIVATE_KEY: keys.privateKey,
        };
        const { child: started, url, wsUrl } = await spawnServer(env, 60_000);
        child = started;
        const remote = { url, backend, http: () => request(url), ws: (o?: { cookie?: string }) => WsClient.connect(wsUrl, o) } as unknown as TestApp;
        const [a, b] = [await signUp(remote), await signUp(remote)];
        const device = service.device();
        await remote.http().post('/api/users/me/device-token').set(b.browser).send({ token: device.token, platform: 'WEB' }).expect(200);
        const chatId = await openDirect(remote, a, b);
        const aws = await connect(remote, a);
        await send(aws, chatId, 'from another process');
        await service.waitFor(device, 1, 20_000);
        expect(device.payloads()).toEqual([{ title: a.nickname, body: 'from another process', data: { chatId } }]);
        vapidClaims(device.received()[0], keys.publicKey);
        aws.close();
        const exited = new Promise((resolve) => started.once('exit', resolve));
        started.kill('SIGTERM');
        await exited;
        child = null;
      } finally {
        await backend.close();
      }
    }, 90_000);
  });
});
