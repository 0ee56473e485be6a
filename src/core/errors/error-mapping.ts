import { HttpException, Logger } from '@nestjs/common';
import { isDatabaseUnavailable } from '../database/query-results';
import { AppError } from './app-error';
import { ErrorCode, isErrorCode } from './error-codes';

const CODE_BY_STATUS: Record<number, ErrorCode> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  422: 'VALIDATION_ERROR',
  429: 'RATE_LIMIT',
  503: 'SERVICE_UNAVAILABLE',
};

/** What a client is told to wait before retrying while the database is unreachable. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

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

const outageCauses = new OutageCauses();

/**
 * Turns anything thrown into an AppError, or null when it is an unexpected fault (a 500 whose
 * message must never reach a client). Shared by the HTTP filter and the WebSocket gateway.
 */
export function toAppError(error: unknown): AppError | null {
  if (error instanceof AppError) return error;
  if (isDatabaseUnavailable(error)) {
    outageCauses.noted(error);
    return new AppError('SERVICE_UNAVAILABLE', 'The service is briefly unavailable; try again shortly', { retryAfter: DATABASE_RETRY_AFTER_SECONDS });
  }
  if (error instanceof HttpException) {
    const status = error.getStatus();
    if (status >= 500) return null;
    const response = error.getResponse();
    const declared = typeof response === 'object' && response !== null ? (response as { code?: unknown }).code : undefined;
    const code = isErrorCode(declared) ? declared : (CODE_BY_STATUS[status] ?? 'BAD_REQUEST');
    return new AppError(code, undefined, {}, status);
  }
  // body-parser and multer report client faults with an HTTP status and a `type`/`code`.
  const e = error as { status?: number; statusCode?: number; type?: string; code?: string };
  if (e?.type === 'entity.parse.failed') return new AppError('INVALID_JSON');
  if (e?.type === 'entity.too.large') return new AppError('PAYLOAD_TOO_LARGE');
  const status = e?.status ?? e?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500 && e?.type) {
    return new AppError(CODE_BY_STATUS[status] ?? 'BAD_REQUEST', undefined, {}, status);
  }
  return null;
}
