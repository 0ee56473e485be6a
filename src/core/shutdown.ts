import { INestApplicationContext } from '@nestjs/common';
import type { Server } from 'node:http';

/** A stuck shutdown must not hang a deploy: the process exits within this time after SIGTERM. */
export const SHUTDOWN_DEADLINE_MS = 10_000;

/**
 * How long HTTP requests still in flight when the listener closes may take to finish before their
 * connections are closed (less when the deadline is nearer).
 */
export const HTTP_DRAIN_MS = 5_000;

/** What the hooks that run after the HTTP server closed (queues, Redis, pools) keep of the deadline. */
const AFTER_HTTP_MS = 1_000;

/** When the signal that is ending this process came (null: none has). */
let signalledAt: number | null = null;

/** Marks the start of this process's shutdown (exitOnSignals); null forgets it (tests). */
export function shutdownBegan(at: number | null = Date.now()): void {
  signalledAt = at;
}

/** Whether this process is shutting down: its answers then close their connections and readiness says 503. */
export function shuttingDown(): boolean {
  return signalledAt !== null;
}

/**
 * What is left of `budgetMs` counted from the signal that is ending this process: shutdown steps
 * that wait (a periodic task's run, the in-process jobs) share the deadline that way instead of
 * each taking its whole budget one after the other. All of it when no signal came (an application
 * closed in-process, the tests).
 */
export function leftOfShutdown(budgetMs: number, now = Date.now()): number {
  return signalledAt === null ? budgetMs : Math.max(0, signalledAt + budgetMs - now);
}

/**
 * On SIGTERM/SIGINT: close the application (stop accepting, close sockets with 1001, drain
 * workers, close pools) and exit 0, or exit 1 if that fails or outlasts the deadline. With the
 * HTTP server (`http`), its keep-alive connections are ended too (drainHttp).
 */
export function exitOnSignals(app: INestApplicationContext, http?: Server): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      shutdownBegan();
      setTimeout(() => process.exit(1), SHUTDOWN_DEADLINE_MS).unref();
      if (http) drainHttp(http);
      app.close().then(
        () => process.exit(0),
        (error: unknown) => {
          console.error(error);
          process.exit(1);
        },
      );
    });
  }
}

/**
 * Ends the HTTP connections of a shutdown instead of waiting on them. Nest closes the listener
 * late (after the sockets and workers, so a balancer still routing here is served meanwhile) and
 * then waits until every connection has ended, which a keep-alive client never does on its own:
 * it kept the process past the deadline, exiting 1 before the pools closed. So, from the signal:
 * - every answer says `Connection: close` (RequestPipeline, through shuttingDown()), so a busy
 *   connection ends after its answer and its client reconnects, to another instance; one whose
 *   answer was begun before the signal ends once that answer is sent;
 * - the idle connections close now;
 * - once Nest closes the listener, requests still in flight get HTTP_DRAIN_MS (less when the
 *   deadline is nearer) to finish before the connections left are closed.
 */
export function drainHttp(server: Server): void {
  server.closeIdleConnections();
  const close = server.close.bind(server);
  server.close = ((callback?: (error?: Error) => void) => {
    const cut = setTimeout(() => server.closeAllConnections(), Math.min(HTTP_DRAIN_MS, leftOfShutdown(SHUTDOWN_DEADLINE_MS - AFTER_HTTP_MS))).unref();
    return close((error?: Error) => {
      clearTimeout(cut);
      callback?.(error);
    });
  }) as Server['close'];
}
