import { StreamableFile } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import type { Response } from 'express';
import { sendJson } from './json-response';

/**
 * The Express adapter with the success envelope built in: what a route handler returns is
 * answered as `{success: true, data}` (undefined becomes null). Files (`StreamableFile`) and
 * answers whose route set its own Content-Type go out as Express would send them.
 *
 * The envelope lives here rather than in a global interceptor: a global interceptor puts every
 * request through Nest's interceptor chain (RxJS observables, async scopes, a client-disconnect
 * watcher), which cost more CPU than the rest of a small route's work. Routes that `@Res()`
 * write their own answer, and errors are the exception filter's (AllExceptionsFilter).
 */
export class AppExpressAdapter extends ExpressAdapter {
  override reply(response: Response, body: unknown, statusCode?: number): unknown {
    if (body instanceof StreamableFile) return super.reply(response, body, statusCode);
    const envelope = { success: true, data: body === undefined ? null : body };
    if (response.getHeader('Content-Type') !== undefined) return super.reply(response, envelope, statusCode);
    sendJson(response, statusCode ?? response.statusCode, envelope);
    return response;
  }
}
