import { randomBytes } from 'node:crypto';
import { TestApp } from './test-app';

export interface TestUser {
  id: string;
  email: string;
  nickname: string;
  token: string;
  /** `h2v_session=<token>`, as a browser would send it. */
  cookie: string;
  /** What the web client sends on an API call: the cookie and its `X-Requested-With: H2V` header. */
  browser: { Cookie: string; 'X-Requested-With': 'H2V' };
  auth: { Authorization: string };
}

let sequence = 0;

export function uniqueEmail(prefix = 'user'): string {
  return `${prefix}.${process.pid}.${Date.now().toString(36)}.${sequence++}@example.com`;
}

export function uniqueNickname(prefix = 'user'): string {
  return `${prefix}${randomBytes(5).toString('hex')}`;
}

export function sessionTokenFrom(setCookie: string[] | string | undefined): string {
  const header = [setCookie ?? []].flat().find((c) => c.startsWith('h2v_session='));
  if (!header) throw new Error('no session cookie set');
  return decodeURIComponent(header.split(';')[0].slice('h2v_session='.length));
}

/** Signs a new user up through the real API: send-otp, the mailed code, NICKNAME_REQUIRED, nickname. */
export async function signUp(t: TestApp, options: { email?: string; nickname?: string; userAgent?: string } = {}): Promise<TestUser> {
  const email = options.email ?? uniqueEmail();
  const nickname = options.nickname ?? uniqueNickname();
  await t.http().post('/api/auth/send-otp').send({ email }).expect(200);
  const code = await t.backend.smtp.code(email);
  await t.http().post('/api/auth/verify-otp').send({ email, code }).expect(422);
  const res = await t
    .http()
    .post('/api/auth/verify-otp')
    .set('User-Agent', options.userAgent ?? 'h2v-tests')
    .send({ email, code, nickname })
    .expect(201);
  return asTestUser(res.body.data.user, sessionTokenFrom(res.headers['set-cookie']));
}

/** A further session (another device) for an existing user. */
export async function signIn(t: TestApp, email: string, userAgent = 'h2v-tests'): Promise<TestUser> {
  await t.http().post('/api/auth/send-otp').send({ email }).expect(200);
  const code = await t.backend.smtp.code(email);
  const res = await t.http().post('/api/auth/verify-otp').set('User-Agent', userAgent).send({ email, code }).expect(200);
  return asTestUser(res.body.data.user, sessionTokenFrom(res.headers['set-cookie']));
}

function asTestUser(user: { id: string; email: string; nickname: string }, token: string): TestUser {
  return {
    id: user.id,
    email: user.email,
    nickname: user.nickname,
    token,
    cookie: `h2v_session=${token}`,
    browser: { Cookie: `h2v_session=${token}`, 'X-Requested-With': 'H2V' },
    auth: { Authorization: `Bearer ${token}` },
  };
}

/** Retries an assertion until it passes or the time is up (for effects of background jobs). */
export async function eventually<T>(check: () => Promise<T>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
