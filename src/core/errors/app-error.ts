import { ERROR_CODES, ErrorCode } from './error-codes';

/** Extra top-level fields an error body may carry beside code and message (e.g. `errors`, `verifyToken`). */
export type ErrorDetails = Record<string, unknown>;

/**
 * The one error type feature code throws: a catalogue code, its HTTP status, a safe message and
 * optional details that are sent to the client as top-level fields of the envelope.
 */
export class AppError extends Error {
  readonly status: number;
  /** The code as sent, when the client needs more than the catalogue code (see `qualified`). */
  private wireCode?: string;

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

  /**
   * An error whose wire code carries a detail after a colon, `<code>:<qualifier>`, for the few
   * screens of the client that read one (e.g. `PRIVACY_GROUP_INVITE:Ann Lee, Bo`).
   */
  static qualified(code: ErrorCode, qualifier: string, message?: string): AppError {
    const error = new AppError(code, message);
    error.wireCode = `${code}:${qualifier}`;
    return error;
  }

  toBody(): Record<string, unknown> {
    return { success: false, code: this.wireCode ?? this.code, message: this.message, ...this.details };
  }
}
