import { parse } from 'cookie';
import type { CookieOptions, Request, Response } from 'express';

/** The cookie that carries the session token for browsers (HTTP and the WebSocket upgrade). */
export const SESSION_COOKIE = 'h2v_session';

/** The session token in a `Cookie` header, or null; the header is only parsed when it may hold one. */
export function sessionCookie(header: string | undefined): string | null {
  if (!header?.includes(SESSION_COOKIE)) return null;
  return parse(header)[SESSION_COOKIE] || null;
}

/**
 * The session token of a request and whether the cookie carried it: `Authorization: Bearer …`
 * first (a bearer header without a token is no token), then the cookie. What authenticates
 * (tokenFrom) and what the CSRF rule protects (a cookie-authenticated write) read it here alike.
 */
export function sessionTokenOf(request: Request): { token: string; cookie: boolean } | null {
  const header = request.headers.authorization;
  if (header?.startsWith('Bearer ')) {
    const token = header.slice(7).trim();
    return token ? { token, cookie: false } : null;
  }
  const token = sessionCookie(request.headers.cookie);
  return token ? { token, cookie: true } : null;
}

/** The session cookie's attributes (sign-in sets it, logout clears it, use slides its expiry): HttpOnly, Lax, the whole site, Secure in production. */
export function sessionCookieOptions(secure: boolean): CookieOptions {
  return { httpOnly: true, sameSite: 'lax', secure, path: '/' };
}

/**
 * Tells the browser to drop its session cookie (logout, a deleted account), in place of any
 * setting of it the response carries already: the session guard sets it again, to the session's
 * expiry, on every request it authenticates by the cookie.
 */
export function clearSessionCookie(response: Response, secure: boolean): void {
  const set = response.getHeader('Set-Cookie');
  if (set !== undefined) {
    const kept = (Array.isArray(set) ? set : [String(set)]).filter((cookie) => !cookie.startsWith(`${SESSION_COOKIE}=`));
    if (kept.length) response.setHeader('Set-Cookie', kept);
    else response.removeHeader('Set-Cookie');
  }
  response.clearCookie(SESSION_COOKIE, sessionCookieOptions(secure));
}
