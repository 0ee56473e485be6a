import { INestApplicationContext } from '@nestjs/common';
import { WsAdapter } from '@nestjs/platform-ws';
import type { IncomingMessage } from 'node:http';
import { AppError } from '../core/errors';
import { OriginPolicy } from '../core/http/origin-policy';

type VerifyClientDone = (verified: boolean, code?: number, message?: string, headers?: Record<string, string>) => void;

/**
 * The plain `ws` adapter with Nest's own frame dispatch switched off: the H2V clients speak
 * `{event, payload}` (not Nest's `{event, data}`), so the gateway parses frames itself and hands
 * them to `@OnSocketEvent` methods.
 *
 * The upgrade obeys the same origin rule as state-changing HTTP requests: a page on a foreign
 * origin would otherwise open a socket authenticated by the visitor's cookie and read their
 * messages. It is refused with 403 before the handshake completes, so no socket ever exists.
 */
export class AppWsAdapter extends WsAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly origins: OriginPolicy,
  ) {
    super(app);
  }

  override create(port: number, options: Record<string, unknown> = {}): ReturnType<WsAdapter['create']> {
    return super.create(port, { ...options, verifyClient: this.verifyClient });
  }

  override bindMessageHandlers(): void {
    // Frames are dispatched by WsGateway; see the class comment.
  }

  override bindClientDisconnect(): void {
    // WsGateway has no handleDisconnect: it listens for the close itself. Nest's listener would
    // cost every open socket a closure and a `once` wrapper for nothing.
  }

  private readonly verifyClient = (info: { req: IncomingMessage }, done: VerifyClientDone): void => {
    if (this.origins.allows(info.req.headers.origin, info.req)) return done(true);
    const body = JSON.stringify(new AppError('ORIGIN_NOT_ALLOWED').toBody());
    done(false, 403, body, { 'Content-Type': 'application/json' });
  };
}
