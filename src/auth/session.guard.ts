import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { CookieOptions, Response } from 'express';
import { AppConfig } from '../core/config/app-config';
import { AppError } from '../core/errors';
import { SESSION_COOKIE, sessionCookie, sessionCookieOptions } from '../core/http/session-cookie';
import { IS_PUBLIC } from '../core/http/public.decorator';
import { AuthedRequest, tokenFrom } from './auth-context';
import { SESSION_LIFETIME_MS, SessionsService } from './sessions.service';

/**
 * Protects every HTTP route unless it is marked `@Public()`: a missing, unknown, expired or
 * terminated token answers 401 UNAUTHORIZED. Whether a route is public is read once per route.
 * A session cookie is set again, with a fresh Max-Age, whenever its session's expiry slides (at
 * most once a minute): an active browser is never logged out by the cookie's own expiry.
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
    const token = tokenFrom(request);
    // A browser's cookie expires with the session it carries: set again whenever use slides the expiry.
    const fromCookie = token !== null && token === sessionCookie(request.headers.cookie);
    const slid = fromCookie ? () => void response.cookie(SESSION_COOKIE, token, { ...this.cookie, maxAge: SESSION_LIFETIME_MS }) : undefined;
    const auth = token ? await this.sessions.resolve(token, slid) : null;
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
