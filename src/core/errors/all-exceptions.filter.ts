import { ArgumentsHost, Catch, ExceptionFilter, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { sendJson } from '../http/json-response';
import { loggedPath, maskCapabilities } from '../logging/request-log';
import { AppError } from './app-error';
import { toAppError } from './error-mapping';

/**
 * The one HTTP exception filter: every error becomes `{success:false, code, message, ...}`.
 * Unexpected faults are logged with the request id and answered with INTERNAL_ERROR only.
 */
@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('HTTP');

  catch(exception: unknown, host: ArgumentsHost): void {
    if (host.getType() !== 'http') return;
    const http = host.switchToHttp();
    const response = http.getResponse<Response>();
    const request = http.getRequest<Request & { id?: string }>();
    const error = toAppError(exception) ?? this.internal(exception, request);
    if (response.headersSent) return;
    // An error that knows its wait says it the HTTP way too (429s, 503s of an outage).
    if (error.details.retryAfter !== undefined) {
      response.setHeader('Retry-After', String(error.details.retryAfter));
    }
    sendJson(response, error.status, error.toBody());
  }

  private internal(exception: unknown, request: Request & { id?: string }): AppError {
    const requestId = request.id !== undefined ? String(request.id) : undefined;
    this.logger.error({ err: loggable(exception), requestId, method: request.method, url: loggedPath(request.path) }, 'Unhandled error');
    return new AppError('INTERNAL_ERROR', undefined, requestId ? { requestId } : {});
  }
}

/**
 * What of an unexpected error may be logged: never query parameters (they can hold user data),
 * and its message and stack with the capabilities they quote masked (maskCapabilities: a file
 * system error names the file's path, an uploaded file's name).
 * Logged as `err`, it goes through pino's error serializer, which types a plain object "Object":
 * this one has no prototype, so the serializer types it by its `name`. Its code (a SQLSTATE, an
 * errno) is `errorCode`, since `code` is redacted wherever it appears (REDACTED_PATHS: OTP codes).
 */
export function loggable(error: unknown): Record<string, unknown> {
  const fields: Record<string, unknown> = Object.create(null);
  if (!(error instanceof Error)) return Object.assign(fields, { message: maskCapabilities(String(error)) });
  const e = error as Error & { code?: unknown; query?: unknown };
  const stack = typeof e.stack === 'string' ? maskCapabilities(e.stack) : e.stack;
  return Object.assign(fields, { name: e.name, message: maskCapabilities(String(e.message)), errorCode: e.code, query: typeof e.query === 'string' ? e.query.slice(0, 500) : undefined, stack });
}
