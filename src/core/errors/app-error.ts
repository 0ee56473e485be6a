import { ERROR_CODES, ErrorCode } from './error-codes';

/** Extra top-level fields an error body may carry beside code and message (e.g. `errors`, `verifyToken`). */
export type ErrorDetails = Record<string, unknown>;

/**
 * The one error type feature code throws: a catalogue code, its HTTP status, a safe message and
 * optional details that are sent to the client as top-level fields of the envelope.
 */
export class AppError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    message?: string,
    readonly details: ErrorDetails = {},
    status?: number,
  ) {
    super(message ?? ERROR_CODES[code].message);
    this.name = 'AppError';
    this.status = status ?? ERROR_CODES[code].status;
  }

  /** Status 503 for a known code that is not an error of the caller (e.g. the health check). */
  static withStatus(code: ErrorCode, status: number, message?: string): AppError {
    return new AppError(code, message, {}, status);
  }

  toBody(): Record<string, unknown> {
    return { success: false, code: this.code, message: this.message, ...this.details };
  }
}
