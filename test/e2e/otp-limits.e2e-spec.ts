import type { Response } from 'supertest';
import { TEST_DATABASE_URL } from '../support/env';
import { signUp, uniqueEmail } from '../support/factories';
import { createTestApp, TestApp } from '../support/test-app';
import { ExpiredAuthRecords } from '../../src/auth/expired-auth-records';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
/**
 * The per-email OTP budget, driven the way the attack in the security issue did it: many client
 * IPs (X-Forwarded-For behind TRUST_PROXY), one target email. Time passing is simulated by moving
 * the code's `sent_at` back, as the auth tests do.
 */
describe('OTP budget per email', () => {
  let t: TestApp;
  // The budget lives in the database, so on Postgres a second instance shares it.
  let instances: TestApp[];
  beforeAll(async () => {
    t = await createTestApp({ env: { TRUST_PROXY: '1' } });
    instances = TEST_DATABASE_URL ? [t, await createTestApp({ backend: t.backend, env: { TRUST_PROXY: '1' } })] : [t];
  });
  afterAll(async () => {
    for (const app of instances.slice(1)) await app.close();
    await t.close();
  });

  let requests = 0;
  /** Every request comes from another client address, and alternates between the instances. */
  const next = () => {
    requests++;
    return { app: instances[requests % instances.length], ip: `198.51.100.${(requests % 254) + 1}` };
  };
  const sendOtp = (email: string) => {
    const { app, ip } = next();
    return app.http().post('/api/auth/send-otp').set('X-Forwarded-For', ip).send({ email });
  };
  const verify = (body: object) => {
    const { app, ip } = next();
    return app.http().post('/api/auth/verify-otp').set('X-Forwarded-For', ip).send(body);
  };
  const aMinuteLater = (email: string) => t.backend.sql(`UPDATE otp_codes SET sent_at = sent_at - interval '61 seconds' WHERE email = $1`, [email]);
  /** The i-th wrong guess: any 6 digits except the real code. */
  const wrong = (code: string, i: number) => String((Number(code) + 1 + i) % 1_000_000).padStart(6, '0');

  /** Sends a code (expecting 200), then five wrong guesses; returns the codes the guesses got. */
  const burnACode = async (email: string): Promise<string[]> => {
    await sendOtp(email).expect(200);
    const code = await t.backend.smtp.code(email);
    const answers: string[] = [];
    for (let i = 0; i < 5; i++) answers.push((await verify({ email, code: wrong(code, i) })).body.code);
    return answers;
  };

  const expectLockout = (res: Response, code: 'OTP_LOCKED' | 'OTP_SEND_LIMIT', from: number, windowMs: number) => {
    expect(res.status).toBe(429);
    expect(res.body).toEqual({ success: false, code, message: expect.any(String), retryAfter: expect.any(Number), lockedUntil: expect.any(String) });
    const end = Date.parse(res.body.lockedUntil);
    // The window started with the first counted event, which was at or after `from`.
    expect(end).toBeGreaterThanOrEqual(from + windowMs - 1000);
    expect(end).toBeLessThanOrEqual(Date.now() + windowMs + 1000);
    expect(res.body.message).toContain(res.body.lockedUntil);
    expect(Number(res.headers['retry-after'])).toBe(res.body.retryAfter);
    expect(res.body.retryAfter).toBeGreaterThan((windowMs / 1000) * 0.9);
  };

  it('stops the send / burn / send-again loop within its first minute: burning a code keeps the resend interval', async () => {
    const email = uniqueEmail('victim');
    let code = '';
    const sends: number[] = [];
    const guesses: string[] = [];
    // The loop, run as fast as the server answers: ask for a code, five wrong guesses, again.
    for (let cycle = 0; cycle < 8; cycle++) {
      const sent = await sendOtp(email);
      sends.push(sent.status);
      if (sent.status === 200) code = await t.backend.smtp.code(email);
      for (let i = 0; i < 5; i++) guesses.push((await verify({ email, code: wrong(code, cycle * 5 + i) })).body.code);
    }
    expect(sends).toEqual([200, ...Array(7).fill(429)]);
    // Five guesses were weighed; the burned code answers every later one OTP_MAX_ATTEMPTS, counting none.
    expect(guesses.slice(0, 5)).toEqual([...Array(4).fill('INVALID_CODE'), 'OTP_MAX_ATTEMPTS']);
    expect(guesses.slice(5)).toEqual(Array(35).fill('OTP_MAX_ATTEMPTS'));
    expect(await t.backend.sql('SELECT wrong_codes FROM otp_budgets WHERE email = $1', [email])).toEqual([{ wrong_codes: 5 }]);
    const refused = await sendOtp(email).expect(429);
    expect(refused.body).toMatchObject({ code: 'OTP_TOO_SOON', retryAfter: expect.any(Number) });
    expect(t.backend.smtp.count(email)).toBe(0);
  });

  it('locks sign-in for a day after 20 wrong codes from any IPs, naming the end; sends and guesses get OTP_LOCKED', async () => {
    const user = await signUp(t);
    const started = Date.now();
    // A patient attacker: waits out the resend interval before each new code.
    for (let cycle = 0; cycle < 3; cycle++) {
      expect(await burnACode(user.email)).toEqual(['INVALID_CODE', 'INVALID_CODE', 'INVALID_CODE', 'INVALID_CODE', 'OTP_MAX_ATTEMPTS']);
      await aMinuteLater(user.email);
    }
    await sendOtp(user.email).expect(200);
    const code = await t.backend.smtp.code(user.email);
    for (let i = 0; i < 4; i++) expect((await verify({ email: user.email, code: wrong(code, i) }).expect(400)).body.code).toBe('INVALID_CODE');
    const twentieth = await verify({ email: user.email, code: wrong(code, 4) });
    expectLockout(twentieth, 'OTP_LOCKED', started, DAY_MS);

    // Locked: the right code, a new code and more guesses are all refused, with the same end.
    await aMinuteLater(user.email);
    for (const res of [await verify({ email: user.email, code }), await sendOtp(user.email), await verify({ email: user.email, code: wrong(code, 5) })]) {
      expectLockout(res, 'OTP_LOCKED', started, DAY_MS);
      expect(res.body.lockedUntil).toBe(twentieth.body.lockedUntil);
    }
    expect(t.backend.smtp.count(user.email)).toBe(0);

    // Once the day has passed, the owner signs in as usual.
    await t.backend.sql(`UPDATE otp_budgets SET wrong_since = wrong_since - interval '1 day' WHERE email = $1`, [user.email]);
    await sendOtp(user.email).expect(200);
    const fresh = await t.backend.smtp.code(user.email);
    expect((await verify({ email: user.email, code: fresh }).expect(200)).body.data.user.id).toBe(user.id);
  });

  it('sends at most 5 codes an hour to one email from any IPs; the latest code still signs in, and signing in starts over', async () => {
    const user = await signUp(t);
    const started = Date.now();
    let code = '';
    for (let i = 0; i < 5; i++) {
      await sendOtp(user.email).expect(200);
      code = await t.backend.smtp.code(user.email);
      await aMinuteLater(user.email);
    }
    expectLockout(await sendOtp(user.email), 'OTP_SEND_LIMIT', started, HOUR_MS);
    expect(t.backend.smtp.count(user.email)).toBe(0);

    await verify({ email: user.email, code }).expect(200);
    await sendOtp(user.email).expect(200);
    expect(await t.backend.smtp.code(user.email)).toMatch(/^\d{6}$/);
  });

  it('deletes expired codes, budgets whose windows ended and expired sessions, and keeps what still counts', async () => {
    const [stale, pending, locked] = [uniqueEmail(), uniqueEmail(), uniqueEmail()];
    for (const email of [stale, pending, locked]) await sendOtp(email).expect(200);
    // `stale`: its code expired and both its windows ended two days ago; `locked`: a wrong code yesterday morning still counts today.
    await t.backend.sql(`UPDATE otp_codes SET sent_at = now() - interval '2 days', expires_at = now() - interval '2 days' WHERE email = ANY($1)`, [[stale, locked]]);
    await t.backend.sql(`UPDATE otp_budgets SET sends_since = now() - interval '2 days' WHERE email = ANY($1)`, [[stale, locked]]);
    await t.backend.sql(`UPDATE otp_budgets SET wrong_codes = 20, wrong_since = now() - interval '20 hours' WHERE email = $1`, [locked]);
    const user = await signUp(t);
    const [gone, kept] = await Promise.all([signUp(t), signUp(t)]);
    await t.backend.sql(`UPDATE sessions SET expires_at = now() - interval '1 minute' WHERE user_id = $1`, [gone.id]);

    expect(await t.app.get(ExpiredAuthRecords).run()).toBeGreaterThanOrEqual(4);
    const codes = (await t.backend.sql(`SELECT email FROM otp_codes WHERE email = ANY($1) ORDER BY email`, [[stale, pending, locked]])).map((r: { email: string }) => r.email);
    expect(codes).toEqual([pending]);
    const budgets = (await t.backend.sql(`SELECT email FROM otp_budgets WHERE email = ANY($1) ORDER BY email`, [[stale, pending, locked]])).map((r: { email: string }) => r.email);
    expect(budgets).toEqual([locked, pending].sort());
    expect(await t.backend.sql(`SELECT user_id FROM sessions WHERE user_id = ANY($1)`, [[gone.id, kept.id, user.id]])).toHaveLength(2);
    await t.http().get('/api/users/me').set(kept.auth).expect(200);
    // The lockout still holds; the pending code still signs in.
    expect((await sendOtp(locked)).body.code).toBe('OTP_LOCKED');
    const code = await t.backend.smtp.code(pending);
    expect((await verify({ email: pending, code })).body.code).toBe('NICKNAME_REQUIRED');
  });

  it('starts the wrong-code count over once its day has passed: a wrong code then is the first, not the one that locks', async () => {
    const email = uniqueEmail('window');
    await sendOtp(email).expect(200);
    const code = await t.backend.smtp.code(email);
    // 19 wrong codes, the first of them two days ago: the window they counted in is over.
    await t.backend.sql(`UPDATE otp_budgets SET wrong_codes = 19, wrong_since = now() - interval '2 days' WHERE email = $1`, [email]);
    expect((await verify({ email, code: wrong(code, 0) }).expect(400)).body.code).toBe('INVALID_CODE');
    expect(await t.backend.sql('SELECT wrong_codes FROM otp_budgets WHERE email = $1', [email])).toEqual([{ wrong_codes: 1 }]);
  });

  it('lets a user who mistypes twice sign in', async () => {
    const user = await signUp(t);
    await sendOtp(user.email).expect(200);
    const code = await t.backend.smtp.code(user.email);
    expect((await verify({ email: user.email, code: wrong(code, 0) }).expect(400)).body).toMatchObject({ code: 'INVALID_CODE', message: expect.stringContaining('4 tries left') });
    expect((await verify({ email: user.email, code: wrong(code, 1) }).expect(400)).body.code).toBe('INVALID_CODE');
    const res = await verify({ email: user.email, code }).expect(200);
    expect(res.body.data.user.id).toBe(user.id);
  });

  it("clears the email's counters when the owner signs in, so their own typos never add up to a lockout", async () => {
    const user = await signUp(t);
    // 17 wrong codes and 4 codes sent, then a successful sign-in ...
    for (let cycle = 0; cycle < 3; cycle++) {
      await burnACode(user.email);
      await aMinuteLater(user.email);
    }
    await sendOtp(user.email).expect(200);
    let code = await t.backend.smtp.code(user.email);
    for (let i = 0; i < 2; i++) await verify({ email: user.email, code: wrong(code, i) }).expect(400);
    await verify({ email: user.email, code }).expect(200);

    // ... and 15 more wrong codes and 4 more codes are still within a fresh budget.
    for (let cycle = 0; cycle < 3; cycle++) {
      expect(await burnACode(user.email)).not.toContain('OTP_LOCKED');
      await aMinuteLater(user.email);
    }
    await sendOtp(user.email).expect(200);
    code = await t.backend.smtp.code(user.email);
    await verify({ email: user.email, code }).expect(200);
  });
});
