import { ValidateBy, ValidationOptions } from 'class-validator';
import { isUuid } from '../database/ids';

/**
 * An id as the server issues them: a UUID in lower case (see isUuid). IsUUID accepts upper case
 * too, which PostgreSQL reads as the same id while code compares it as another.
 */
export function IsId(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    {
      name: 'isId',
      validator: {
        validate: (value: unknown) => isUuid(value),
        defaultMessage: (args) => `${args?.property ?? 'value'} must be an id (a UUID in lower case)`,
      },
    },
    options,
  );
}
