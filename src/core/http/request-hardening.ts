import type { Request } from 'express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AppError } from '../errors';
import { OriginPolicy } from './origin-policy';
import { sessionTokenOf } from './session-cookie';

/**
 * The request checks of the HTTP pipeline (RequestPipeline), each a question about the request
 * answered with the error to refuse it with, or null: the pipeline asks them in one pass, before
 * the body is read.
 */

/** Methods that change state; the origin and client-header rules apply to these only (GET/HEAD/OPTIONS never do). */
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The body types the API reads: JSON everywhere, multipart for uploads. */
const ACCEPTED_BODY_TYPES = new Set(['application/json', 'multipart/form-data']);

/**
 * Defaults for every response: no MIME sniffing, and nothing kept by browsers or shared caches,
 * as API answers carry private data. A route that may be cached (uploaded files) sets its own
 * `Cache-Control`, which replaces this one.
 */
export function setSecurityHeaders(res: ServerResponse): void {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Cache-Control', 'no-store');
}

/** Whether the request sends a body (one the slow-client rule watches and the type rule checks). */
export function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length']) > 0;
}

/**
 * CSRF defence beside SameSite: a state-changing request that a browser sent from a foreign
 * origin (or from an opaque one, `Origin: null`) is refused before its body is read, so the
 * session cookie it carries is never used. See OriginPolicy for who counts as foreign.
 */
export function foreignOriginRefusal(policy: OriginPolicy, req: IncomingMessage): AppError | null {
  if (!STATE_CHANGING.has(req.method!) || policy.allows(req.headers.origin, req)) return null;
  return new AppError('ORIGIN_NOT_ALLOWED');
}

/** The header the web client's `request()` puts on every call; a cross-site form or a simple fetch cannot send it. */
export const CLIENT_HEADER = 'x-requested-with';
export const CLIENT_HEADER_VALUE = 'H2V';

/**
 * Whether a web page sent the request: browsers put `Origin` on every POST, PUT, PATCH and DELETE
 * (same-origin ones too) and fetch metadata (`Sec-Fetch-Mode`) on every request, and the web
 * client adds its client header. A native app's HTTP stack (OkHttp, URLSession), curl and servers
 * send none of them.
 */
export function fromWebPage(req: IncomingMessage): boolean {
  return req.headers.origin !== undefined || req.headers['sec-fetch-mode'] !== undefined || req.headers[CLIENT_HEADER] !== undefined;
}

/**
 * State-changing routes a cookie session may call without the client header: the web client
 * uploads files with a bare XMLHttpRequest (for its progress events), which sends the cookie
 * but no custom header (wire-contract.md). A cross-site page still cannot use it: SameSite=Lax
 * keeps the cookie off a cross-site POST, and foreignOriginRefusal refuses a foreign Origin.
 * `POST /api/upload/encrypted` is deliberately not exempt: the client sends a secret chat's
 * encrypted media through request(), with the header (wire contract v2.2 §9).
 */
const HEADERLESS_WRITES: ReadonlyArray<{ method: string; path: string }> = [{ method: 'POST', path: '/api/upload' }];

/**
 * The second CSRF defence, beside foreignOriginRefusal: a state-changing request that the
 * session cookie would authenticate must carry `X-Requested-With: H2V` (a custom header makes a
 * browser ask CORS first, which a foreign origin does not pass), else 403 CSRF_REJECTED before
 * its body is read. `Authorization: Bearer` (mobile apps, scripts) wins over the cookie in
 * tokenFrom, and no page can set it on a cross-site request, so such requests need no header;
 * neither does a request with no session cookie at all (nothing to forge).
 */
export function missingClientHeaderRefusal(req: Request): AppError | null {
  if (!STATE_CHANGING.has(req.method) || !cookieAuthenticated(req) || isHeaderlessWrite(req)) return null;
  const header = req.headers[CLIENT_HEADER];
  if (typeof header === 'string' && header.trim().toUpperCase() === CLIENT_HEADER_VALUE) return null;
  return new AppError('CSRF_REJECTED');
}

/** Whether the session cookie is what would authenticate this request (see tokenFrom). */
function cookieAuthenticated(req: Request): boolean {
  return sessionTokenOf(req)?.cookie === true;
}

/**
 * Express matches routes case-insensitively and with or without a trailing slash: so does this.
 * The slashes are trimmed by a loop: `/\/+$/` takes time quadratic in a run of slashes not at the
 * end (a 16 KB path of them held the event loop ~90 ms, before any authentication).
 */
function isHeaderlessWrite(req: Request): boolean {
  const raw = req.path;
  let end = raw.length;
  while (end > 1 && raw.charCodeAt(end - 1) === SLASH) end--;
  const path = raw.slice(0, end).toLowerCase();
  return HEADERLESS_WRITES.some((route) => route.method === req.method && route.path === path);
}

const SLASH = 0x2f;

/**
 * A body in any other type is answered 415 instead of being silently ignored. In particular
 * urlencoded and text/plain bodies, the ones an HTML form can send cross-site without a
 * preflight, are never parsed into a DTO.
 */
export function unreadBodyRefusal(req: IncomingMessage): AppError | null {
  if (!hasBody(req)) return null;
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (ACCEPTED_BODY_TYPES.has(type)) return null;
  return new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send JSON (application/json), or multipart/form-data for uploads');
}
