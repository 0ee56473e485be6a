import { INestApplicationContext } from '@nestjs/common';

/** A stuck shutdown must not hang a deploy: the process exits within this time after SIGTERM. */
export const SHUTDOWN_DEADLINE_MS = 10_000;

/**
 * On SIGTERM/SIGINT: close the application (stop accepting, close sockets with 1001, drain
 * workers, close pools) and exit 0, or exit 1 if that fails or outlasts the deadline.
 */
export function exitOnSignals(app: INestApplicationContext): void {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
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
