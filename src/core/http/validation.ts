import { ValidationError, ValidationPipe } from '@nestjs/common';
import { AppError } from '../errors';
import { Acceptor, compileAcceptor } from './compiled-validation';
import { findInputProblems, MAX_REPORTED } from './input-hygiene';

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

/** A refusal names at most MAX_REPORTED fields: an input of many bad fields does not make an answer larger than itself. */
export function validationError(errors: FieldErrors): AppError {
  const fields = Object.keys(errors);
  const reported = fields.length > MAX_REPORTED ? Object.fromEntries(fields.slice(0, MAX_REPORTED).map((field) => [field, errors[field]])) : errors;
  return new AppError('VALIDATION_ERROR', 'Invalid request data', { errors: reported });
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

/**
 * Socket payloads go through the HTTP pipe itself, not class-transformer directly: the pipe first
 * deletes `constructor`, `prototype` and `__proto__` keys, and class-transformer takes
 * `value.constructor` for the class of an untyped nested object, so `{"messageId": {"constructor": 1}}`
 * would have it read `(1).prototype.constructor` and throw a TypeError instead of refusing the field.
 */
const payloadPipe = createValidationPipe();

/** Each DTO's compiled shortcut (compileAcceptor), made on first use; null when the DTO always takes the pipe. */
const acceptors = new WeakMap<new () => object, Acceptor<object> | null>();

/**
 * Validates a plain payload (e.g. a socket frame) against a DTO class exactly as the HTTP pipe
 * does, after the input rule that HTTP requests meet in the request pipeline (requestInputProblems). A flat
 * payload that is valid takes the compiled shortcut of its DTO (compiled-validation.ts); the rest,
 * and every invalid one, take the pipe itself, so refusals read the same.
 */
export async function validatePayload<T extends object>(dto: new () => T, payload: unknown): Promise<T> {
  if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) {
    throw validationError({ payload: ['payload must be an object'] });
  }
  const problems = findInputProblems(payload, '', 'payload');
  if (problems) throw validationError(problems);
  let accept = acceptors.get(dto) as Acceptor<T> | null | undefined;
  if (accept === undefined) acceptors.set(dto, (accept = compileAcceptor(dto)));
  const accepted = accept?.(payload as Record<string, unknown>);
  if (accepted) return accepted;
  return (await payloadPipe.transform(payload, { type: 'body', metatype: dto })) as T;
}
