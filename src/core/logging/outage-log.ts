import { Logger } from '@nestjs/common';

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

/** How often, at most, the cause of an outage's 503s is logged again while it lasts. */
export const OUTAGE_LOG_INTERVAL_MS = 60_000;

/**
 * During a database outage every request and frame that needs it is answered 503: each cause
 * (refused, timed out, too many connections; an outage often has two or three at once) is logged
 * when it first happens, then at most once a minute while it lasts, so an operator sees why
 * without a line per request.
 */
export class OutageCauses {
  /** When each cause was last logged; causes not seen for a minute are forgotten. */
  private readonly logged = new Map<string, number>();

  constructor(private readonly logger = new Logger('Database')) {}

  noted(error: unknown, now = Date.now()): void {
    const cause = causeOf(error);
    const at = this.logged.get(cause);
    if (at !== undefined && now - at < OUTAGE_LOG_INTERVAL_MS) return;
    for (const [known, loggedAt] of this.logged) if (now - loggedAt >= OUTAGE_LOG_INTERVAL_MS) this.logged.delete(known);
    this.logged.set(cause, now);
    this.logger.warn(`database unavailable, answering SERVICE_UNAVAILABLE: ${cause}`);
  }
}

function causeOf(error: unknown): string {
  const e = error as { code?: unknown; message?: unknown; driverError?: { code?: unknown; message?: unknown } };
  const source = e.driverError && typeof e.driverError.message === 'string' ? e.driverError : e;
  const code = typeof source.code === 'string' ? `${source.code}: ` : '';
  return `${code}${String(source.message)}`;
}
