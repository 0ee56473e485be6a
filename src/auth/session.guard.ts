import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { CookieOptions, Response } from 'express';
import { AppConfig } from '../core/config/app-config';
import { AppError } from '../core/errors';
import { SESSION_COOKIE, sessionCookieOptions, sessionTokenOf } from '../core/http/session-cookie';
import { IS_PUBLIC } from '../core/http/public.decorator';
import { AuthedRequest } from './auth-context';
import { SessionsService } from './sessions.service';

/**
 * Protects every HTTP route unless it is marked `@Public()`: a missing, unknown, expired or
 * terminated token answers 401 UNAUTHORIZED. Whether a route is public is read once per route.
 * A session cookie is set again, to its session's expiry, whenever this instance reads that (at
 * most every few seconds per session): use slides the expiry, so an active browser is never
 * logged out by the cookie's own, whichever of its sockets or requests slid it.
 */
@Injectable()
export class SessionGuard implements CanActivate {
  private readonly publicRoutes = new WeakMap<object, WeakMap<object, boolean>>();

  private readonly cookie: CookieOptions;

  constructor(
    private readonly reflector: Reflector,
    private readonly sessions: SessionsService,
    config: AppConfig,
  ) {
    this.cookie = sessionCookieOptions(config.isProduction);
  }

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (context.getType() !== 'http' || this.isPublic(context)) return true;
    const http = context.switchToHttp();
    return this.authenticate(http.getRequest<AuthedRequest>(), http.getResponse<Response>());
  }

  private async authenticate(request: AuthedRequest, response: Response): Promise<boolean> {
    const found = sessionTokenOf(request);
    // A browser's cookie expires with the session it carries: set again, to the session's expiry, whenever that is read.
    const read = found?.cookie ? (expiresAt: number) => void response.cookie(SESSION_COOKIE, found.token, { ...this.cookie, maxAge: Math.max(0, expiresAt - Date.now()) }) : undefined;
    const auth = found ? await this.sessions.resolve(found.token, read) : null;
    if (!auth) throw new AppError('UNAUTHORIZED');
    request.auth = auth;
    return true;
  }

  private isPublic(context: ExecutionContext): boolean {
    const [controller, handler] = [context.getClass(), context.getHandler()];
    let byHandler = this.publicRoutes.get(controller);
    if (!byHandler) this.publicRoutes.set(controller, (byHandler = new WeakMap()));
    let isPublic = byHandler.get(handler);
    if (isPublic === undefined) {
      isPublic = this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [handler, controller]) === true;
      byHandler.set(handler, isPublic);
    }
    return isPublic;
  }
}
