import { HttpException } from '@nestjs/common';
import { isDatabaseUnavailable } from '../database/query-results';
import { OutageCauses } from '../logging/outage-log';
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

/** The causes of this process's database outages, logged as requests and frames meet them. */
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
