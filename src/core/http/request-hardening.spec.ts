import type { Request } from 'express';
import { missingClientHeaderRefusal } from './request-hardening';

/** Asks the rule about a request made of these parts; 'next' or the refused status and code. */
function run(method: string, path: string, headers: Record<string, string>): 'next' | { status: number; code: string } {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  const refusal = missingClientHeaderRefusal({ method, path, headers: lower } as unknown as Request);
  return refusal ? { status: refusal.status, code: refusal.code } : 'next';
}

const COOKIE = { Cookie: 'theme=dark; h2v_session=abc' };
const REFUSED = { status: 403, code: 'CSRF_REJECTED' };

describe('missingClientHeaderRefusal', () => {
  it('refuses cookie-authenticated writes without X-Requested-With: H2V', () => {
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) expect(run(method, '/api/users/me', COOKIE)).toEqual(REFUSED);
    expect(run('POST', '/api/contacts/x', { ...COOKIE, 'X-Requested-With': 'XMLHttpRequest' })).toEqual(REFUSED);
  });

  it('passes the header, reads, Bearer requests and requests without a session cookie', () => {
    expect(run('POST', '/api/contacts/x', { ...COOKIE, 'X-Requested-With': 'H2V' })).toBe('next');
    expect(run('GET', '/api/users/me', COOKIE)).toBe('next');
    expect(run('POST', '/api/contacts/x', { ...COOKIE, Authorization: 'Bearer t' })).toBe('next');
    expect(run('POST', '/api/contacts/x', { Cookie: 'theme=dark; h2v_session=' })).toBe('next');
    expect(run('POST', '/api/auth/send-otp', {})).toBe('next');
  });

  it('exempts only POST /api/upload, however Express would spell the path', () => {
    for (const path of ['/api/upload', '/api/upload/', '/API/Upload', '/api/upload///']) expect(run('POST', path, COOKIE)).toBe('next');
    // A long run of slashes not at the end (a quadratic case for a trailing-slash regex) is just another path.
    for (const path of [`/api${'/'.repeat(16_000)}a`, `${'/'.repeat(16_000)}`, '/']) expect(run('POST', path, COOKIE)).toEqual(REFUSED);
    expect(run('POST', '/api/upload/avatar', COOKIE)).toEqual(REFUSED);
    expect(run('POST', '/api/upload/encrypted', COOKIE)).toEqual(REFUSED);
    expect(run('DELETE', '/api/upload', COOKIE)).toEqual(REFUSED);
  });
});
