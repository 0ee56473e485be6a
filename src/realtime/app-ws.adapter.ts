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

  /**
   * A client's protocol error (a frame over the size limit, closed with 1009; invalid UTF-8, an
   * unmasked or malformed frame, 1002/1007) is the client's doing, not a fault of the server: the
   * gateway's shared listener ends that socket. Nest's default logged each at ERROR with a stack
   * (anyone could fill the error log at will) and gave every socket a closure of its own. The
   * server's own errors are still logged.
   */
  override bindErrorHandler(server: { on(event: 'error', listener: (error: Error) => void): unknown }): typeof server {
    server.on('error', (error) => this.logger.error(error));
    return server;
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
