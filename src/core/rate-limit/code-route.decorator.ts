import { SetMetadata } from '@nestjs/common';

export const IS_CODE_ROUTE = Symbol('h2v:code-route');

/**
 * Marks a route that mails or checks a sign-in code. Such routes are limited per (client IP,
 * email) and per client IP (RATE_LIMIT_AUTH, RATE_LIMIT_AUTH_IP) instead of by the /api limit.
 */
export const CodeRoute = () => SetMetadata(IS_CODE_ROUTE, true);
