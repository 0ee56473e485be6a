import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AppError } from '../core/errors';
import { IS_PUBLIC } from '../core/http/public.decorator';
import { AuthedRequest, tokenFrom } from './auth-context';
import { SessionsService } from './sessions.service';

/**
 * Protects every HTTP route unless it is marked `@Public()`: a missing, unknown, expired or
 * terminated token answers 401 UNAUTHORIZED. Whether a route is public is read once per route.
 */
@Injectable()
export class SessionGuard implements CanActivate {
  private readonly publicRoutes = new WeakMap<object, WeakMap<object, boolean>>();

  constructor(
    private readonly reflector: Reflector,
    private readonly sessions: SessionsService,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    if (context.getType() !== 'http' || this.isPublic(context)) return true;
    return this.authenticate(context.switchToHttp().getRequest<AuthedRequest>());
  }

  private async authenticate(request: AuthedRequest): Promise<boolean> {
    const token = tokenFrom(request);
    const auth = token ? await this.sessions.resolve(token) : null;
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
