import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import type { Request } from 'express';
import { sessionTokenOf } from '../core/http/session-cookie';

/** Who is calling: set by the session guard on every non-public route. */
export interface AuthContext {
  userId: string;
  sessionId: string;
}

export type AuthedRequest = Request & { auth?: AuthContext };

/** Injects the caller's AuthContext into a handler parameter. */
export const Auth = createParamDecorator((_data: unknown, context: ExecutionContext): AuthContext => {
  const auth = context.switchToHttp().getRequest<AuthedRequest>().auth;
  if (!auth) throw new Error('@Auth() used on a public route');
  return auth;
});

/** The session token of a request: `Authorization: Bearer …` first, then the cookie. */
export function tokenFrom(request: Request): string | null {
  return sessionTokenOf(request)?.token ?? null;
}
