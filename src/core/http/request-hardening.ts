import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { AppError } from '../errors';
import { OriginPolicy } from './origin-policy';

/** Methods that change state; the origin rule applies to these only (GET/HEAD/OPTIONS never do). */
const STATE_CHANGING = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The body types the API reads: JSON everywhere, multipart for uploads. */
const ACCEPTED_BODY_TYPES = new Set(['application/json', 'multipart/form-data']);

/**
 * Defaults for every response: no MIME sniffing, and nothing kept by browsers or shared caches,
 * as API answers carry private data. A route that may be cached (uploaded files) sets its own
 * `Cache-Control`, which replaces this one.
 */
export function securityHeaders(_req: Request, res: Response, next: NextFunction): void {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Cache-Control', 'no-store');
  next();
}

/**
 * CSRF defence beside SameSite: a state-changing request that a browser sent from a foreign
 * origin (or from an opaque one, `Origin: null`) is refused before its body is read, so the
 * session cookie it carries is never used. See OriginPolicy for who counts as foreign.
 */
export function refuseForeignOrigins(policy: OriginPolicy): RequestHandler {
  return (req, res, next) => {
    if (!STATE_CHANGING.has(req.method) || policy.allows(req.headers.origin, req)) return next();
    reply(res, new AppError('ORIGIN_NOT_ALLOWED'));
  };
}

/**
 * A body in any other type is answered 415 instead of being silently ignored. In particular
 * urlencoded and text/plain bodies, the ones an HTML form can send cross-site without a
 * preflight, are never parsed into a DTO.
 */
export function refuseUnreadBodies(req: Request, res: Response, next: NextFunction): void {
  const hasBody = req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length']) > 0;
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (!hasBody || ACCEPTED_BODY_TYPES.has(type)) return next();
  reply(res, new AppError('UNSUPPORTED_MEDIA_TYPE', 'Send JSON (application/json), or multipart/form-data for uploads'));
}

function reply(res: Response, error: AppError): void {
  res.status(error.status).json(error.toBody());
}
