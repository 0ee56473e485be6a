import { isISO8601, ValidateBy, ValidationOptions } from 'class-validator';

/**
 * An instant the server can use: an ISO 8601 date or date-time (strict: a real calendar day) that
 * JavaScript's Date reads. ISO 8601 also has forms Date does not read (week dates `2024-W01`,
 * ordinal dates `2024-366`, basic `20240101`, hour-only `T10`, comma fractions): IsISO8601 alone
 * lets them through to become an Invalid Date further on.
 */
export function IsInstant(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isInstant',
      validator: {
        validate: (value: unknown) => typeof value === 'string' && isISO8601(value, { strict: true }) && Number.isFinite(Date.parse(value)),
        defaultMessage: (args) => `${args?.property ?? 'value'} must be an ISO 8601 date and time, e.g. 2024-01-31T12:00:00Z`,
      },
    },
    options,
  );
}
