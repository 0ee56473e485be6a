import { INestApplicationContext } from '@nestjs/common';

/** A stuck shutdown must not hang a deploy: the process exits within this time after SIGTERM. */
export const SHUTDOWN_DEADLINE_MS = 10_000;

/** When the signal that is ending this process came (null: none has). */
let signalledAt: number | null = null;

/** Marks the start of this process's shutdown (exitOnSignals); null forgets it (tests). */
export function shutdownBegan(at: number | null = Date.now()): void {
  signalledAt = at;
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
 * workers, close pools) and exit 0, or exit 1 if that fails or outlasts the deadline.
 */
export function exitOnSignals(app: INestApplicationContext): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      shutdownBegan();
      setTimeout(() => process.exit(1), SHUTDOWN_DEADLINE_MS).unref();
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
