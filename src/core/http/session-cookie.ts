import { parse } from 'cookie';

/** The cookie that carries the session token for browsers (HTTP and the WebSocket upgrade). */
export const SESSION_COOKIE = 'h2v_session';

/** The session token in a `Cookie` header, or null; the header is only parsed when it may hold one. */
export function sessionCookie(header: string | undefined): string | null {
  if (!header?.includes(SESSION_COOKIE)) return null;
  return parse(header)[SESSION_COOKIE] || null;
}
