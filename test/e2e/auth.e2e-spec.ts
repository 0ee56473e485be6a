import { eventually, sessionTokenFrom, signIn, signUp, uniqueEmail, uniqueNickname } from '../support/factories';
import { Client } from 'pg';
import { SessionsService } from '../../src/auth/sessions.service';
import { SecretBox } from '../../src/core/crypto/secret-box';
import { OtpMailProcessor } from '../../src/mail/otp-mail.processor';
import { TEST_DATABASE_URL } from '../support/env';
import { createTestApp, TestApp } from '../support/test-app';
import { lockWaiters } from '../support/races';

const CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
const IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1';

describe('auth', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp({ captureLogs: true })));
  afterAll(() => t.close());

  const sendOtp = (email: unknown) => t.http().post('/api/auth/send-otp').send({ email });
  const verify = (body: object) => t.http().post('/api/auth/verify-otp').send(body);

  describe('send-otp', () => {
    it('mails a 6-digit code with its lifetime, in text and HTML, and stores only a hash', async () => {
      const email = uniqueEmail();
      const res = await sendOtp(`  ${email.toUpperCase()} `).expect(200);
      expect(res.body).toEqual({ success: true, data: { status: 'pending', delivered: true } });
      const mail = await t.backend.smtp.next(email);
      const code = /\b(\d{6})\b/.exec(mail.text)![1];
      expect(mail.text).toContain('10 minutes');
      expect(mail.html).toContain(code);
      const [row] = await t.backend.sql('SELECT code_hash, attempts FROM otp_codes WHERE email = $1', [email]);
      expect(row.code_hash).not.toContain(code);
      expect(row.attempts).toBe(0);
    });

    it('writes the mail in Russian when the client prefers it', async () => {
      const email = uniqueEmail();
      await t.http().post('/api/auth/send-otp').set('Accept-Language', 'ru-RU,ru;q=0.9').send({ email }).expect(200);
      expect((await t.backend.smtp.next(email)).subject).toBe('Ваш код H2V');
    });

    it('rejects an invalid email with VALIDATION_ERROR and the field in errors', async () => {
      const res = await sendOtp('not-an-email').expect(422);
      expect(res.body).toMatchObject({ success: false, code: 'VALIDATION_ERROR', errors: { email: [expect.any(String)] } });
    });

    it('rejects unknown fields with VALIDATION_ERROR', async () => {
      const res = await t.http().post('/api/auth/send-otp').send({ email: uniqueEmail(), admin: true }).expect(422);
      expect(res.body.errors).toHaveProperty('admin');
    });

    it('rejects a disposable domain with DISPOSABLE_EMAIL', async () => {
      const res = await sendOtp('someone@mailinator.com').expect(422);
      expect(res.body).toMatchObject({ success: false, code: 'DISPOSABLE_EMAIL' });
    });

    it('refuses a second send within 60 s with OTP_TOO_SOON and the seconds left', async () => {
      const email = uniqueEmail();
      await sendOtp(email).expect(200);
      const res = await sendOtp(email).expect(429);
      expect(res.body).toMatchObject({ code: 'OTP_TOO_SOON', retryAfter: expect.any(Number) });
      expect(res.body.retryAfter).toBeGreaterThan(50);
      expect(res.body.retryAfter).toBeLessThanOrEqual(60);
    });

    it('answers EMAIL_SEND_FAILED when the mail server refuses, and allows a retry at once', async () => {
      const email = uniqueEmail('bounce');
      t.backend.smtp.reject(email);
      const res = await sendOtp(email).expect(502);
      expect(res.body).toMatchObject({ success: false, code: 'EMAIL_SEND_FAILED' });
      expect(await t.backend.sql('SELECT 1 FROM otp_codes WHERE email = $1', [email])).toHaveLength(0);
      t.backend.smtp.unreject(email);
      await sendOtp(email).expect(200);
      expect(await t.backend.smtp.code(email)).toMatch(/^\d{6}$/);
    });

    it('mails a queued code only while it is the live one: not once a newer send replaced it, or a sign-in used it', async () => {
      // A job that waited in the queue (a worker down, a slow relay) runs after its code is dead.
      const box = t.app.get(SecretBox);
      const mailer = t.app.get(OtpMailProcessor);
      const jobFor = (email: string, code: string) => ({ email, sealedCode: box.seal(code), codeHash: box.hmac(code), locale: 'en' as const, lifetimeMinutes: 10 });
      const email = uniqueEmail();
      await sendOtp(email).expect(200);
      const live = await t.backend.smtp.code(email);
      const dead = live === '000000' ? '000001' : '000000';
      await mailer.deliver(jobFor(email, dead));
      await mailer.deliver(jobFor(email, live));
      expect(t.backend.smtp.count(email)).toBe(1);
      expect(await t.backend.smtp.code(email)).toBe(live);
      await verify({ email, code: live, nickname: uniqueNickname() }).expect(201);
      await mailer.deliver(jobFor(email, live));
      expect(t.backend.smtp.count(email)).toBe(0);
    });

    it('mails a queued code not once it expired, or wrong tries burned it', async () => {
      const box = t.app.get(SecretBox);
      const mailer = t.app.get(OtpMailProcessor);
      for (const kill of [`expires_at = now() - interval '1 second'`, `attempts = 5`]) {
        const email = uniqueEmail();
        await sendOtp(email).expect(200);
        const code = await t.backend.smtp.code(email);
        await t.backend.sql(`UPDATE otp_codes SET ${kill} WHERE email = $1`, [email]);
        await mailer.deliver({ email, sealedCode: box.seal(code), codeHash: box.hmac(code), locale: 'en', lifetimeMinutes: 10 });
        expect({ kill, mailed: t.backend.smtp.count(email) }).toEqual({ kill, mailed: 0 });
      }
    });

    it('answers the same for registered and unknown emails', async () => {
      const user = await signUp(t);
      const registered = await sendOtp(user.email).expect(200);
      const unknown = await sendOtp(uniqueEmail()).expect(200);
      expect(registered.body).toEqual(unknown.body);
      expect(await t.backend.smtp.code(user.email)).toMatch(/^\d{6}$/);
    });
  });

  describe('verify-otp', () => {
    it('signs a new user up in two steps: NICKNAME_REQUIRED with a verifyToken, then 201 with the user', async () => {
      const email = uniqueEmail();
      await sendOtp(email).expect(200);
      const code = await t.backend.smtp.code(email);
      const first = await verify({ email, code }).expect(422);
      expect(first.body).toEqual({ success: false, code: 'NICKNAME_REQUIRED', message: expect.any(String), verifyToken: expect.any(String) });
      const nickname = uniqueNickname('New');
      const res = await verify({ email, verifyToken: first.body.verifyToken, nickname }).expect(201);
      expect(res.body.data).toEqual({
        isNewUser: true,
        user: { id: expect.any(String), email, nickname, firstName: null, lastName: null, avatar: null, bio: null, isOnline: true, lastOnline: null },
        token: sessionTokenFrom(res.headers['set-cookie']),
      });
      expect(await t.backend.sql('SELECT nickname FROM users WHERE email = $1', [email])).toEqual([{ nickname }]);
    });

    it('also accepts the code itself in the follow-up call', async () => {
      const email = uniqueEmail();
      await sendOtp(email).expect(200);
      const code = await t.backend.smtp.code(email);
      await verify({ email, code }).expect(422);
      await verify({ email, code, nickname: uniqueNickname() }).expect(201);
    });

    it('logs an existing user in with 200 and a session cookie', async () => {
      const user = await signUp(t);
      await t.backend.sql(`UPDATE otp_codes SET sent_at = now() - interval '2 minutes' WHERE email = $1`, [user.email]);
      const session = await signIn(t, user.email);
      expect(session.id).toBe(user.id);
      await t.http().get('/api/auth/sessions').set(session.auth).expect(200);
    });

    it('gives an app without a cookie jar its session token in the body, which then works as Bearer and on the socket; a web page never gets it', async () => {
      const user = await signUp(t);
      const signInWith = async (headers: Record<string, string>) => {
        await t.backend.sql(`UPDATE otp_codes SET sent_at = now() - interval '2 minutes' WHERE email = $1`, [user.email]);
        await sendOtp(user.email).expect(200);
        const code = await t.backend.smtp.code(user.email);
        return (await verify({ email: user.email, code }).set(headers).expect(200)).body.data;
      };
      // As OkHttp sends it: no Origin, no fetch metadata, no client header.
      const app = await signInWith({ 'User-Agent': 'okhttp/4.12.0' });
      expect(app).toEqual({ isNewUser: false, user: expect.objectContaining({ id: user.id }), token: expect.any(String) });
      expect((await t.http().get('/api/users/me').set('Authorization', `Bearer ${app.token}`).expect(200)).body.data.id).toBe(user.id);
      const ws = await t.ws();
      try {
        ws.send('auth', { token: app.token });
        expect((await ws.waitFor('auth:ok')).userId).toBe(user.id);
      } finally {
        ws.close();
      }
      // The web client's requests carry Origin, Sec-Fetch-Mode and its header: each alone keeps the token out.
      for (const headers of [{ Origin: t.url }, { 'Sec-Fetch-Mode': 'cors' }, { 'X-Requested-With': 'H2V' }] as Array<Record<string, string>>) {
        expect(await signInWith({ 'User-Agent': CHROME, ...headers })).toEqual({ isNewUser: false, user: expect.objectContaining({ id: user.id }) });
      }
    });

    it('sets the cookie HttpOnly, SameSite=Lax, Path=/ with a Max-Age', async () => {
      const email = uniqueEmail();
      await sendOtp(email).expect(200);
      const res = await verify({ email, code: await t.backend.smtp.code(email), nickname: uniqueNickname() }).expect(201);
      const cookie = [res.headers['set-cookie']].flat().find((c: string) => c.startsWith('h2v_session='))!;
      expect(cookie).toMatch(/HttpOnly/i);
      expect(cookie).toMatch(/SameSite=Lax/i);
      expect(cookie).toMatch(/Path=\//);
      expect(cookie).toMatch(/Max-Age=7776000/);
      expect(cookie).not.toMatch(/Secure/); // only in production
      const token = sessionTokenFrom(res.headers['set-cookie']);
      expect(Buffer.from(token, 'base64url').length).toBeGreaterThanOrEqual(32);
      const [row] = await t.backend.sql('SELECT token_hash FROM sessions WHERE user_id = $1', [res.body.data.user.id]);
      expect(row.token_hash).not.toBe(token);
    });

    it('never accepts a used code again', async () => {
      const email = uniqueEmail();
      await sendOtp(email).expect(200);
      const code = await t.backend.smtp.code(email);
      await verify({ email, code, nickname: uniqueNickname() }).expect(201);
      const res = await verify({ email, code }).expect(400);
      expect(res.body.code).toBe('OTP_EXPIRED');
    });

    it('answers OTP_EXPIRED for an expired or never-sent code', async () => {
      expect((await verify({ email: uniqueEmail(), code: '123456' }).expect(400)).body.code).toBe('OTP_EXPIRED');
      const email = uniqueEmail();
      await sendOtp(email).expect(200);
      const code = await t.backend.smtp.code(email);
      await t.backend.sql(`UPDATE otp_codes SET expires_at = now() - interval '1 second' WHERE email = $1`, [email]);
      expect((await verify({ email, code }).expect(400)).body.code).toBe('OTP_EXPIRED');
    });

    it('counts wrong codes with INVALID_CODE and kills the code on the fifth with OTP_MAX_ATTEMPTS, which every later try hears, costing nothing', async () => {
      const email = uniqueEmail();
      await sendOtp(email).expect(200);
      const code = await t.backend.smtp.code(email);
      const wrong = code === '000000' ? '111111' : '000000';
      for (let i = 1; i <= 4; i++) {
        expect((await verify({ email, code: wrong }).expect(400)).body.code).toBe('INVALID_CODE');
        expect((await t.backend.sql('SELECT attempts FROM otp_codes WHERE email = $1', [email]))[0].attempts).toBe(i);
      }
      expect((await verify({ email, code: wrong }).expect(429)).body.code).toBe('OTP_MAX_ATTEMPTS');
      const budget = await t.backend.sql('SELECT wrong_codes FROM otp_budgets WHERE email = $1', [email]);
      for (const late of [code, wrong]) expect((await verify({ email, code: late }).expect(429)).body.code).toBe('OTP_MAX_ATTEMPTS');
      expect(await t.backend.sql('SELECT wrong_codes FROM otp_budgets WHERE email = $1', [email])).toEqual(budget);
      // Expired, it is gone like any other.
      await t.backend.sql(`UPDATE otp_codes SET expires_at = now() - interval '1 second' WHERE email = $1`, [email]);
      expect((await verify({ email, code }).expect(400)).body.code).toBe('OTP_EXPIRED');
    });

    it('rejects a malformed nickname with VALIDATION_ERROR and keeps the code valid', async () => {
      const email = uniqueEmail();
      await sendOtp(email).expect(200);
      const code = await t.backend.smtp.code(email);
      for (const nickname of ['abc', '1abcdef', 'has space', 'x'.repeat(33), 'ok_underscore']) {
        const res = await verify({ email, code, nickname }).expect(422);
        expect(res.body).toMatchObject({ code: 'VALIDATION_ERROR', errors: { nickname: expect.any(Array) } });
      }
      await verify({ email, code, nickname: uniqueNickname() }).expect(201);
    });

    it('answers NICKNAME_TAKEN case-insensitively and keeps the code valid', async () => {
      const taken = await signUp(t);
      const email = uniqueEmail();
      await sendOtp(email).expect(200);
      const code = await t.backend.smtp.code(email);
      const res = await verify({ email, code, nickname: taken.nickname.toUpperCase() }).expect(409);
      expect(res.body.code).toBe('NICKNAME_TAKEN');
      await verify({ email, code, nickname: uniqueNickname() }).expect(201);
    });

    it('requires a code or a verify token', async () => {
      const res = await verify({ email: uniqueEmail() }).expect(422);
      expect(res.body.errors).toHaveProperty('code');
    });

    it('refuses a wrong verify token with INVALID_CODE, counting a try, and creates no account', async () => {
      const email = uniqueEmail();
      await sendOtp(email).expect(200);
      const code = await t.backend.smtp.code(email);
      const { verifyToken } = (await verify({ email, code }).expect(422)).body;
      const wrong = `${verifyToken.slice(0, -1)}${verifyToken.endsWith('A') ? 'B' : 'A'}`;
      const res = await verify({ email, verifyToken: wrong, nickname: uniqueNickname() }).expect(400);
      expect(res.body).toMatchObject({ success: false, code: 'INVALID_CODE' });
      expect(await t.backend.sql('SELECT attempts FROM otp_codes WHERE email = $1', [email])).toEqual([{ attempts: 1 }]);
      expect(await t.backend.sql('SELECT 1 FROM users WHERE email = $1', [email])).toEqual([]);
      await verify({ email, verifyToken, nickname: uniqueNickname() }).expect(201);
    });

    it('refuses a verify token to an existing user, who never got one: the code is needed', async () => {
      const user = await signUp(t);
      await sendOtp(user.email).expect(200);
      await t.backend.smtp.code(user.email);
      const res = await verify({ email: user.email, verifyToken: 'x'.repeat(32) }).expect(400);
      expect(res.body).toMatchObject({ success: false, code: 'INVALID_CODE' });
      expect(await t.backend.sql('SELECT 1 FROM sessions WHERE user_id = $1', [user.id])).toHaveLength(1);
    });

    // Two connections at once: PGlite (the embedded mode) runs one statement at a time.
    (TEST_DATABASE_URL ? it : it.skip)('a sign-in racing the deletion of its account waits for it, then finds no account (not a 500)', async () => {
      const user = await signUp(t);
      await sendOtp(user.email).expect(200);
      const code = await t.backend.smtp.code(user.email);
      const deleting = new Client({ connectionString: t.backend.env.DATABASE_URL });
      await deleting.connect();
      try {
        // As UsersService.deleteAccount does it: the user's row locked first, deleted, committed later.
        await deleting.query('BEGIN');
        await deleting.query('SELECT 1 FROM users WHERE id = $1 FOR UPDATE', [user.id]);
        const signingIn = verify({ email: user.email, code }).then((res) => res);
        await lockWaiters(t);
        await deleting.query('DELETE FROM users WHERE id = $1', [user.id]);
        await deleting.query('COMMIT');
        const res = await signingIn;
        expect([res.status, res.body.code]).toEqual([422, 'NICKNAME_REQUIRED']);
        expect(await t.backend.sql('SELECT 1 FROM sessions WHERE user_id = $1', [user.id])).toEqual([]);
      } finally {
        await deleting.end();
      }
    });
  });

  describe('sessions', () => {
    it('authenticates by Bearer token and by cookie, and refuses anything else with 401', async () => {
      const user = await signUp(t);
      await t.http().get('/api/auth/sessions').set(user.auth).expect(200);
      await t.http().get('/api/auth/sessions').set('Cookie', user.cookie).expect(200);
      for (const headers of [{}, { Authorization: 'Bearer nope' }, { Cookie: 'h2v_session=nope' }]) {
        const res = await t.http().get('/api/auth/sessions').set(headers).expect(401);
        expect(res.body).toEqual({ success: false, code: 'UNAUTHORIZED', message: expect.any(String) });
      }
    });

    const sessionCookieOf = (res: { headers: Record<string, unknown> }) => [res.headers['set-cookie']].flat().find((c) => typeof c === 'string' && c.startsWith('h2v_session=')) as string | undefined;
    /** The cookie's Max-Age in days. */
    const cookieDays = (cookie: string | undefined) => Number(/Max-Age=(\d+)/.exec(cookie ?? '')?.[1]) / 86_400;

    it('sets the session cookie again, to the session\'s slid expiry, when use slides it; not on every request, and only for a cookie', async () => {
      const user = await signUp(t);
      await t.backend.sql(`UPDATE sessions SET last_active_at = now() - interval '1 hour', expires_at = now() + interval '1 day' WHERE user_id = $1`, [user.id]);
      const cookie = sessionCookieOf(await t.http().get('/api/users/me').set('Cookie', user.cookie).expect(200));
      expect(cookie).toContain(`${user.cookie};`);
      expect(cookieDays(cookie)).toBeCloseTo(90, 2);
      expect(cookie).toMatch(/HttpOnly/);
      expect(cookie).toMatch(/SameSite=Lax/);
      expect((await t.backend.sql(`SELECT expires_at > now() + interval '89 days' AS slid FROM sessions WHERE user_id = $1`, [user.id]))[0].slid).toBe(true);
      // Right after: the session as this instance just read it, nothing to set.
      expect(sessionCookieOf(await t.http().get('/api/users/me').set('Cookie', user.cookie).expect(200))).toBeUndefined();
    });

    it('sets the cookie to the expiry a socket slid, at the next request that reads the session', async () => {
      const user = await signUp(t);
      await t.backend.sql(`UPDATE sessions SET last_active_at = now() - interval '1 hour', expires_at = now() + interval '1 day' WHERE user_id = $1`, [user.id]);
      const socket = await t.ws({ cookie: user.cookie });
      await socket.waitFor('auth:ok');
      socket.close();
      // Past the few seconds a session stays remembered (SessionCache): the next request reads it again.
      await new Promise((resolve) => setTimeout(resolve, 5_200));
      expect(cookieDays(sessionCookieOf(await t.http().get('/api/users/me').set('Cookie', user.cookie).expect(200)))).toBeCloseTo(90, 2);
    });

    it('sets no cookie for a bearer token whose session slides', async () => {
      const user = await signUp(t);
      await t.backend.sql(`UPDATE sessions SET last_active_at = now() - interval '1 hour' WHERE user_id = $1`, [user.id]);
      const res = await t.http().get('/api/users/me').set(user.auth).expect(200);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect((await t.backend.sql(`SELECT last_active_at > now() - interval '1 minute' AS touched FROM sessions WHERE user_id = $1`, [user.id]))[0].touched).toBe(true);
    });

    it('refuses an expired session with 401', async () => {
      const user = await signUp(t);
      await t.backend.sql(`UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = $1`, [user.id]);
      await t.http().get('/api/auth/sessions').set(user.auth).expect(401);
    });

    it('lists sessions with device names from their User-Agents, newest activity first, marking the current one', async () => {
      const user = await signUp(t, { userAgent: CHROME });
      await t.backend.sql(`UPDATE otp_codes SET sent_at = now() - interval '2 minutes' WHERE email = $1`, [user.email]);
      await t.backend.sql(`UPDATE sessions SET last_active_at = now() - interval '1 hour' WHERE user_id = $1`, [user.id]);
      const phone = await signIn(t, user.email, IPHONE);
      const res = await t.http().get('/api/auth/sessions').set(phone.auth).expect(200);
      expect(res.body.data).toEqual([
        { id: expect.any(String), deviceName: 'Mobile Safari 17 on iOS 17.2', location: null, lastActiveAt: expect.any(String), createdAt: expect.any(String), isCurrent: true },
        { id: expect.any(String), deviceName: 'Chrome 120 on Windows 10', location: null, lastActiveAt: expect.any(String), createdAt: expect.any(String), isCurrent: false },
      ]);
    });

    it('terminates one session: its token gets 401 and its socket closes with 4003', async () => {
      const user = await signUp(t);
      await t.backend.sql(`UPDATE otp_codes SET sent_at = now() - interval '2 minutes' WHERE email = $1`, [user.email]);
      const other = await signIn(t, user.email, IPHONE);
      const socket = await t.ws({ cookie: other.cookie });
      await socket.waitFor('auth:ok');
      const sessions = (await t.http().get('/api/auth/sessions').set(user.auth).expect(200)).body.data;
      const target = sessions.find((s: { isCurrent: boolean }) => !s.isCurrent);
      expect((await t.http().delete(`/api/auth/sessions/${target.id}`).set(user.auth).expect(200)).body.data).toEqual({ terminated: target.id });
      expect((await socket.closed).code).toBe(4003);
      await t.http().get('/api/auth/sessions').set(other.auth).expect(401);
      await t.http().get('/api/auth/sessions').set(user.auth).expect(200);
    });

    it("answers SESSION_NOT_FOUND for another user's session or a malformed id", async () => {
      const [a, b] = [await signUp(t), await signUp(t)];
      const [bSession] = (await t.http().get('/api/auth/sessions').set(b.auth).expect(200)).body.data;
      expect((await t.http().delete(`/api/auth/sessions/${bSession.id}`).set(a.auth).expect(404)).body.code).toBe('SESSION_NOT_FOUND');
      expect((await t.http().delete('/api/auth/sessions/not-a-uuid').set(a.auth).expect(404)).body.code).toBe('SESSION_NOT_FOUND');
      await t.http().get('/api/auth/sessions').set(b.auth).expect(200);
    });

    it('terminates all other sessions', async () => {
      const user = await signUp(t);
      await t.backend.sql(`UPDATE otp_codes SET sent_at = now() - interval '2 minutes' WHERE email = $1`, [user.email]);
      const other = await signIn(t, user.email);
      expect((await t.http().delete('/api/auth/sessions').set(user.auth).expect(200)).body.data).toEqual({ terminated: 1 });
      await t.http().get('/api/auth/sessions').set(other.auth).expect(401);
      await t.http().get('/api/auth/sessions').set(user.auth).expect(200);
    });

    it('logs out: the session is gone, the cookie cleared, the socket closed; repeated logout still succeeds', async () => {
      const user = await signUp(t);
      const socket = await t.ws({ cookie: user.cookie });
      await socket.waitFor('auth:ok');
      const res = await t.http().post('/api/auth/logout').set(user.browser).expect(200);
      expect(res.body).toEqual({ success: true, data: null });
      expect([res.headers['set-cookie']].flat().join()).toMatch(/h2v_session=;/);
      expect((await socket.closed).code).toBe(4003);
      await t.http().get('/api/auth/sessions').set(user.auth).expect(401);
      await t.http().post('/api/auth/logout').set(user.browser).expect(200);
      await t.http().post('/api/auth/logout').expect(200);
    });
  });

  describe('WebSocket auth', () => {
    it('authenticates by the cookie on the upgrade and sends auth:ok then presence:snapshot', async () => {
      const user = await signUp(t);
      const socket = await t.ws({ cookie: user.cookie });
      expect(await socket.waitFor('auth:ok')).toMatchObject({ userId: user.id, onlineUserIds: expect.any(Array) });
      expect(await socket.waitFor('presence:snapshot')).toEqual({ onlineUserIds: expect.any(Array) });
      socket.close();
    });

    it('authenticates by the auth event', async () => {
      const user = await signUp(t);
      const socket = await t.ws();
      socket.send('auth', { token: user.token });
      expect(await socket.waitFor('auth:ok')).toMatchObject({ userId: user.id });
      socket.close();
    });

    it("refuses an auth naming another session on an authenticated socket, which stays as it was; its own token is answered auth:ok again", async () => {
      const [user, other] = [await signUp(t), await signUp(t)];
      const socket = await t.ws();
      socket.send('auth', { token: user.token });
      await socket.waitFor('auth:ok');
      socket.send('auth', { token: other.token });
      expect(await socket.waitFor('error')).toMatchObject({ code: 'UNAUTHORIZED' });
      await socket.expectNo('auth:ok');
      socket.send('auth', { token: user.token });
      expect(await socket.waitFor('auth:ok')).toMatchObject({ userId: user.id });
      // A token that cannot be checked now (the database away) is not "another session": the client is not told to log out.
      const failing = jest.spyOn(SessionsService.prototype, 'authenticate').mockRejectedValueOnce(new Error('database unreachable'));
      try {
        socket.send('auth', { token: user.token });
        expect(await socket.waitFor('error')).toMatchObject({ code: 'SERVICE_UNAVAILABLE' });
      } finally {
        failing.mockRestore();
      }
      socket.close();
    });

    it('answers a bad token with an error and closes with 4001', async () => {
      const byEvent = await t.ws();
      byEvent.send('auth', { token: 'nope' });
      expect(await byEvent.waitFor('error')).toMatchObject({ code: 'UNAUTHORIZED' });
      expect((await byEvent.closed).code).toBe(4001);
      const byCookie = await t.ws({ cookie: 'h2v_session=nope' });
      expect((await byCookie.closed).code).toBe(4001);
    });
  });

  it('never writes OTP codes or session tokens to the log', async () => {
    const user = await signUp(t);
    await t.http().get('/api/auth/sessions').set(user.auth).expect(200);
    await t.http().get('/api/auth/sessions').set('Cookie', user.cookie).expect(200);
    const email = uniqueEmail();
    await sendOtp(email).expect(200);
    const code = await t.backend.smtp.code(email);
    await verify({ email, code: code === '000000' ? '111111' : '000000' }).expect(400);
    await eventually(async () => expect(t.logs.join('')).toContain('/api/auth/sessions'));
    const logs = t.logs.join('');
    expect(logs).not.toContain(user.token);
    expect(logs).not.toContain(code);
  });
});
