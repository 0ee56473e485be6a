export { AppError } from './app-error';
export { ERROR_CODES, ErrorCode, QUALIFIED_CODES } from './error-codes';
export { toAppError } from './error-mapping';
