export { AppError } from './app-error';
export { ERROR_CODES, ErrorCode } from './error-codes';
export { toAppError } from './error-mapping';
