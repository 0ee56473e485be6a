import { ValidationError, ValidationPipe } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validate } from 'class-validator';
import { AppError } from '../errors';

export type FieldErrors = Record<string, string[]>;

/** Flattens class-validator errors to `{ "field.nested": ["message", ...] }`. */
export function toFieldErrors(errors: ValidationError[], parent = ''): FieldErrors {
  const result: FieldErrors = {};
  for (const error of errors) {
    const path = parent ? `${parent}.${error.property}` : error.property;
    if (error.constraints) result[path] = Object.values(error.constraints);
    if (error.children?.length) Object.assign(result, toFieldErrors(error.children, path));
  }
  return result;
}

export function validationError(errors: FieldErrors): AppError {
  return new AppError('VALIDATION_ERROR', 'Invalid request data', { errors });
}

/** Options shared by the HTTP pipe and socket payload validation: unknown fields are rejected. */
const VALIDATOR_OPTIONS = { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true } as const;

export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    ...VALIDATOR_OPTIONS,
    transform: true,
    exceptionFactory: (errors) => validationError(toFieldErrors(errors)),
  });
}

/** Validates a plain payload (e.g. a socket frame) against a DTO class, as the HTTP pipe does. */
export async function validatePayload<T extends object>(dto: new () => T, payload: unknown): Promise<T> {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw validationError({ payload: ['payload must be an object'] });
  }
  const instance = plainToInstance(dto, payload);
  const errors = await validate(instance, VALIDATOR_OPTIONS);
  if (errors.length) throw validationError(toFieldErrors(errors));
  return instance;
}
