import type { Logger } from '@nestjs/common';

/**
 * The log of work retried on a timer: during an outage every turn fails the same way, so a
 * failure is logged when it first happens (or its message changes), and the first turn that
 * works again says so. `what` names the work in the log ("session re-check failed, will retry …").
 */
export class OutageLog {
  /** The failure last logged, until a turn works. */
  private failing: string | null = null;

  constructor(
    private readonly logger: Logger,
    private readonly what: string,
  ) {}

  failed(error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    if (message !== this.failing) this.logger.warn(`${this.what} failed, will retry (logged again only if it fails otherwise): ${message}`);
    this.failing = message;
  }

  worked(): void {
    if (this.failing !== null) this.logger.log(`${this.what} works again`);
    this.failing = null;
  }
}
