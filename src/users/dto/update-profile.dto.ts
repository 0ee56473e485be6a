import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsOptional, IsString, Length, Matches, MaxLength, Validate, ValidateIf, ValidatorConstraint, ValidatorConstraintInterface } from 'class-validator';
import { atMostCodePoints } from '../../core/text/code-points';
import { displayText } from '../../core/text/display-text';
import { NICKNAME_PATTERN, NICKNAME_RULE } from '../../auth/dto/auth.dto';

export const NAME_MAX = 64;
export const BIO_MAX = 70;

/**
 * A relative `/uploads/…` path without `..` segments. Whether this user uploaded the file is
 * checked against the uploads feature once it lands.
 */
export const UPLOAD_PATH = /^\/uploads\/(?!.*\.\.)(?!.*\/\/)[A-Za-z0-9._\-/]+$/;

/** Bio length in characters as people count them (code points), not UTF-16 units or bytes. */
@ValidatorConstraint({ name: 'maxCodePoints' })
class MaxCodePoints implements ValidatorConstraintInterface {
  validate(value: unknown): boolean {
    return typeof value === 'string' && atMostCodePoints(value, BIO_MAX);
  }
  defaultMessage(): string {
    return `bio must be at most ${BIO_MAX} characters`;
  }
}

/** Empty strings clear a field, as null does. */
const emptyToNull = ({ value }: { value: unknown }) => (typeof value === 'string' && value.trim() === '' ? null : typeof value === 'string' ? value.trim() : value);
/** A name as others see it (displayText): one with nothing visible left clears the field, so the nickname stands in. */
const nameOrNull = ({ value }: { value: unknown }) => (typeof value === 'string' ? displayText(value) || null : value);

export class UpdateProfileDto {
  @ApiPropertyOptional({ example: 'john.doe', description: NICKNAME_RULE })
  @ValidateIf((o: UpdateProfileDto) => o.nickname !== undefined)
  @IsString()
  @Length(5, 32, { message: NICKNAME_RULE })
  @Matches(NICKNAME_PATTERN, { message: NICKNAME_RULE })
  nickname?: string;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: NAME_MAX, description: 'without control characters; empty or invisible clears it' })
  @Transform(nameOrNull)
  @IsOptional()
  @IsString()
  @MaxLength(NAME_MAX)
  firstName?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: NAME_MAX, description: 'without control characters; empty or invisible clears it' })
  @Transform(nameOrNull)
  @IsOptional()
  @IsString()
  @MaxLength(NAME_MAX)
  lastName?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, example: '/uploads/3f2a.webp', description: 'a relative /uploads/… path, or null to remove' })
  @IsOptional()
  @IsString()
  @MaxLength(512)
  @Matches(UPLOAD_PATH, { message: 'avatar must be a relative /uploads/… path or null' })
  avatar?: string | null;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: BIO_MAX, description: 'counted in characters, not bytes' })
  @Transform(emptyToNull)
  @IsOptional()
  @IsString()
  @Validate(MaxCodePoints)
  bio?: string | null;
}
