import { applyDecorators } from '@nestjs/common';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsEmail, IsOptional, IsString, Length, Matches, MaxLength } from 'class-validator';
import { UserDto } from '../../users/dto/user.dto';

const normaliseEmail = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim().toLowerCase() : value);

/** An email address, trimmed and lower-cased before it is validated. */
const EmailField = () =>
  applyDecorators(
    ApiProperty({ example: 'user@example.com' }),
    Transform(normaliseEmail),
    IsString(),
    MaxLength(254),
    // A quoted local part (`"john doe"@…`) passes the RFC but not nodemailer and most SMTP servers
    // (which refuse it, or send `"a"@…` to `a@…`), so no `"` is allowed in the local part.
    IsEmail({ blacklisted_chars: '"' }, { message: 'email must be a valid email address' }),
  );

/** Nicknames: 5–32 chars, a letter first, then letters, digits and dots. Shared with profile edits. */
export const NICKNAME_PATTERN = /^[a-zA-Z][a-zA-Z0-9.]*$/;
export const NICKNAME_RULE = 'nickname must be 5–32 characters: a letter first, then letters, digits or dots';

export class SendOtpDto {
  @EmailField()
  email: string;
}

export class VerifyOtpDto {
  @EmailField()
  email: string;

  @ApiPropertyOptional({ example: '123456', description: 'The 6-digit code; may be omitted when `verifyToken` is sent' })
  @IsOptional()
  @IsString()
  @Matches(/^\d{6}$/, { message: 'code must be 6 digits' })
  code?: string;

  @ApiPropertyOptional({ example: 'john.doe' })
  @IsOptional()
  @IsString()
  @Length(5, 32, { message: NICKNAME_RULE })
  @Matches(NICKNAME_PATTERN, { message: NICKNAME_RULE })
  nickname?: string;

  @ApiPropertyOptional({ description: 'Returned with NICKNAME_REQUIRED; proves the code was already checked' })
  @IsOptional()
  @IsString()
  @MaxLength(128)
  verifyToken?: string;
}

export class SendOtpResultDto {
  @ApiProperty({ enum: ['pending'] }) status: 'pending';
  @ApiProperty({ description: 'true when the mail server has already accepted the mail' }) delivered: boolean;
}

export class VerifyOtpResultDto {
  @ApiProperty({ type: UserDto }) user: UserDto;
  @ApiProperty() isNewUser: boolean;
  @ApiPropertyOptional({ description: 'The session token, only to a request no web page sent (apps without a cookie jar): send it as `Authorization: Bearer` and in the socket `auth` frame' })
  token?: string;
}

export class SessionDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ example: 'Chrome 120 on Windows 10' }) deviceName: string;
  @ApiProperty({ type: String, nullable: true }) location: string | null;
  @ApiProperty({ format: 'date-time' }) lastActiveAt: string;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty() isCurrent: boolean;
}

export class TerminatedOneDto {
  @ApiProperty({ format: 'uuid' }) terminated: string;
}

export class TerminatedManyDto {
  @ApiProperty() terminated: number;
}
