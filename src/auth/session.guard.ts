import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AppError } from '../core/errors';
import { IS_PUBLIC } from '../core/http/public.decorator';
import { AuthedRequest, tokenFrom } from './auth-context';
import { SessionsService } from './sessions.service';

/**
 * Protects every HTTP route unless it is marked `@Public()`: a missing, unknown, expired or
 * terminated token answers 401 UNAUTHORIZED.
 */
@Injectable()
export class SessionGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly sessions: SessionsService,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http') return true;
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()])) return true;
    const request = context.switchToHttp().getRequest<AuthedRequest>();
    const token = tokenFrom(request);
    const auth = token ? await this.sessions.resolve(token) : null;
    if (!auth) throw new AppError('UNAUTHORIZED');
    request.auth = auth;
    return true;
  }
}
