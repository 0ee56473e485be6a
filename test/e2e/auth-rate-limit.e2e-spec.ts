import { sessionTokenFrom, uniqueEmail, uniqueNickname } from '../support/factories';
import type { ThrottlerStorage } from '@nestjs/throttler';
import { RATE_LIMIT_STORAGE } from '../../src/core/rate-limit/rate-limiter';
import { createTestApp, TestApp } from '../support/test-app';

/**
 * The HTTP limit on sign-in code routes at the API text's value (20 per 15 minutes), keyed by
 * (client IP, email), under a looser per-IP ceiling; logout and the session routes stay outside.
 * Client addresses come from X-Forwarded-For (TRUST_PROXY=1).
 */
describe('auth rate limit', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp({ env: { RATE_LIMIT_AUTH: '20/900', RATE_LIMIT_AUTH_IP: '100/900', TRUST_PROXY: '1' } })));
  afterAll(() => t.close());

  const post = (path: string, ip: string, body: object = {}) => t.http().post(path).set('X-Forwarded-For', ip).send(body);

  it('lets a household behind one address sign up and load logged-out pages (which call logout) without a 429', async () => {
    const home = '203.0.113.10';
    for (let member = 0; member < 12; member++) {
      // The web client calls logout on every logged-out page load.
      await post('/api/auth/logout', home).expect(200);
      await post('/api/auth/logout', home).expect(200);
      const email = uniqueEmail('family');
      await post('/api/auth/send-otp', home, { email }).expect(200);
      const code = await t.backend.smtp.code(email);
      await post('/api/auth/verify-otp', home, { email, code }).expect(422);
      const signedUp = await post('/api/auth/verify-otp', home, { email, code, nickname: uniqueNickname() }).expect(201);
      const token = sessionTokenFrom(signedUp.headers['set-cookie']);
      await t.http().get('/api/auth/sessions').set('X-Forwarded-For', home).set('Authorization', `Bearer ${token}`).expect(200);
    }
  });

  it('keeps 20 code requests and guesses per email and address (together), and only for that pair', async () => {
    const [office, elsewhere] = ['203.0.113.20', '203.0.113.21'];
    const email = uniqueEmail('pair');
    await post('/api/auth/send-otp', office, { email }).expect(200);
    for (let i = 0; i < 19; i++) await post('/api/auth/verify-otp', office, { email, code: '000000' }).expect((res) => expect(res.body.code).not.toBe('RATE_LIMIT'));
    const limited = await post('/api/auth/verify-otp', office, { email, code: '000000' }).expect(429);
    expect(limited.body).toEqual({ success: false, code: 'RATE_LIMIT', message: expect.any(String), retryAfter: expect.any(Number) });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // The same email however it is written: the limit's, not the 60 s between sends (OTP_TOO_SOON).
    expect((await post('/api/auth/send-otp', office, { email: email.toUpperCase() }).expect(429)).body.code).toBe('RATE_LIMIT');

    // Another colleague at the same office, and the same email from another address, are not affected.
    const colleague = uniqueEmail('colleague');
    await post('/api/auth/send-otp', office, { email: colleague }).expect(200);
    expect((await post('/api/auth/verify-otp', office, { email: colleague, code: await t.backend.smtp.code(colleague) }).expect(422)).body.code).toBe('NICKNAME_REQUIRED');
    // From elsewhere the address limit lets the guess through: the code, burned by the office's guesses, answers.
    expect((await post('/api/auth/verify-otp', elsewhere, { email, code: '000000' }).expect(429)).body.code).toBe('OTP_MAX_ATTEMPTS');
  });

  it('puts a looser ceiling of 100 on one address, counting an IPv6 /64 as one address', async () => {
    const host = (n: number) => `2001:db8:5:6:${n.toString(16)}::1`;
    for (let i = 0; i < 100; i++) await post('/api/auth/verify-otp', host(i), { email: uniqueEmail('v6'), code: '123456' }).expect(400);
    // Refused by the address's ceiling before anything else counts: no counter is kept for the email it names.
    const storage = t.app.get<ThrottlerStorage>(RATE_LIMIT_STORAGE);
    const increment = storage.increment.bind(storage);
    const counted: string[] = [];
    storage.increment = (key, ttl, limit, block, name) => (counted.push(name), increment(key, ttl, limit, block, name));
    const limited = await post('/api/auth/send-otp', host(0xbeef), { email: uniqueEmail('v6') }).expect(429);
    storage.increment = increment;
    expect(limited.body.code).toBe('RATE_LIMIT');
    expect(counted).toEqual(['auth-ip']);
    // The neighbouring /64 is someone else.
    await post('/api/auth/verify-otp', '2001:db8:5:7::1', { email: uniqueEmail('v6'), code: '123456' }).expect(400);
  });
});
