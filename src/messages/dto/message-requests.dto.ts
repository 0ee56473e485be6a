import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsBoolean, IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength, ValidateIf } from 'class-validator';
import { IsInstant } from '../../core/http/is-instant';
import { IsId } from '../../core/http/is-id';

export const MAX_TEXT = 4096;
/** Signal message types carried beside a ciphertext (whisper, prekey whisper, sender key…). */
const SIGNAL_TYPE = { min: 0, max: 10 };
const MAX_CIPHERTEXT = 64 * 1024 - 1024;

const bool = ({ value }: { value: unknown }) => (value === 'true' || value === '1' ? true : value === 'false' || value === '0' ? false : value);

/** `message:send` over the socket, with every field the wire contract lists. */
export class SendMessageDto {
  @IsId() chatId: string;
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsString() @MaxLength(MAX_TEXT * 2) text?: string | null;
  @IsOptional() @IsIn(['TEXT', 'IMAGE', 'FILE', 'AUDIO', 'VIDEO']) type?: 'TEXT' | 'IMAGE' | 'FILE' | 'AUDIO' | 'VIDEO';
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsString() @MaxLength(512) mediaUrl?: string | null;
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsString() @MaxLength(255) mediaName?: string | null;
  /** Stored for a secret chat's encrypted media only (the size before encryption); else the upload's own size is. */
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsInt() @Min(0) @Max(Number.MAX_SAFE_INTEGER) mediaSize?: number | null;
  /** Album key (§8.2): stored as sent, echoed on every Message. */
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsString() @Matches(/^[A-Za-z0-9_.:-]{1,64}$/, { message: 'mediaGroupId must be 1-64 characters of A-Z a-z 0-9 _ . : -' }) mediaGroupId?: string | null;
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsId() replyToId?: string | null;
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsId() forwardedFromId?: string | null;
  /** Sent by the client with a forward; the server names the original's sender itself (§8.1). */
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsString() @MaxLength(128) forwardSenderName?: string | null;
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsString() @Matches(/^[A-Za-z0-9+/=_-]+$/) @MaxLength(MAX_CIPHERTEXT) ciphertext?: string | null;
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsInt() @Min(SIGNAL_TYPE.min) @Max(SIGNAL_TYPE.max) signalType?: number | null;
  @IsOptional() @IsString() @MinLength(1) @MaxLength(64) clientMessageId?: string;
}

/** `message:read` over the socket. */
export class ReadMessageDto {
  @IsId() messageId: string;
  @IsOptional() @IsId() chatId?: string;
}

/** `message:listened` over the socket; the web client may omit chatId. */
export class ListenedDto {
  @IsId() messageId: string;
  @IsOptional() @IsId() chatId?: string;
}

export class EditMessageDto {
  @ApiPropertyOptional({ maxLength: MAX_TEXT }) @IsOptional() @IsString() @MaxLength(MAX_TEXT * 2) text?: string;
  @ApiPropertyOptional({ description: 'secret chats: the new ciphertext' }) @IsOptional() @IsString() @Matches(/^[A-Za-z0-9+/=_-]+$/) @MaxLength(MAX_CIPHERTEXT) ciphertext?: string;
  @ApiPropertyOptional() @IsOptional() @IsInt() @Min(SIGNAL_TYPE.min) @Max(SIGNAL_TYPE.max) signalType?: number;
}

export const ALLOWED_REACTIONS = ['👍', '❤️', '😂', '😮', '😢', '🔥'] as const;

/** Clients send ❤ with or without the emoji variation selector; store one spelling. */
export function normaliseEmoji(emoji: string): string {
  return emoji === '❤' ? '❤️' : emoji;
}

export class ReactionRequestDto {
  @ApiProperty({ enum: ALLOWED_REACTIONS })
  @Transform(({ value }) => (typeof value === 'string' ? normaliseEmoji(value) : value))
  @IsIn(ALLOWED_REACTIONS, { message: `emoji must be one of ${ALLOWED_REACTIONS.join(' ')}` })
  emoji: string;
}

export const HISTORY_TYPES = ['TEXT', 'IMAGE', 'VIDEO', 'AUDIO', 'FILE'] as const;

export class HistoryQuery {
  @ApiPropertyOptional({ format: 'uuid', description: 'the oldest message id already shown' }) @IsOptional() @IsId() cursor?: string;
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 50 }) @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100) limit?: number;
  @ApiPropertyOptional({ description: 'search as you type: every word is a case-insensitive word prefix (not in secret chats)' })
  @IsOptional() @IsString() @MinLength(1) @MaxLength(200) q?: string;
  @ApiPropertyOptional({ format: 'date-time', description: 'inclusive lower bound on createdAt' }) @IsOptional() @IsInstant() from?: string;
  @ApiPropertyOptional({ format: 'date-time', description: 'inclusive upper bound on createdAt' }) @IsOptional() @IsInstant() to?: string;
  @ApiPropertyOptional({ format: 'uuid', description: 'only messages of this sender' }) @IsOptional() @IsId() senderId?: string;
  @ApiPropertyOptional({ enum: HISTORY_TYPES }) @IsOptional() @IsIn(HISTORY_TYPES) type?: (typeof HISTORY_TYPES)[number];
}

export class AroundQuery {
  @ApiProperty({ format: 'date-time', description: 'the page starts with the oldest messages at or after this instant' }) @IsInstant() date: string;
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 50 }) @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100) limit?: number;
}

export class SearchQuery {
  @ApiProperty({ minLength: 1, maxLength: 200, description: 'search as you type: every word is a case-insensitive word prefix' }) @IsString() @MinLength(1) @MaxLength(200) q: string;
  @ApiPropertyOptional({ format: 'uuid' }) @IsOptional() @IsId() cursor?: string;
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 30 }) @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100) limit?: number;
}

export class DeleteQuery {
  @ApiPropertyOptional({
    type: Boolean,
    description: 'true (or absent, as in v1.1): delete for everyone (the sender; in a group also the OWNER, and ADMINs for non-OWNER messages); false: hide it for you only',
  })
  @IsOptional()
  @Transform(bool)
  @IsBoolean()
  forEveryone?: boolean;
}

export class ReadResultDto {
  @ApiProperty({ format: 'uuid' }) messageId: string;
  @ApiProperty({ format: 'uuid' }) chatId: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) readAt: string | null;
}


export class HideResultDto {
  @ApiProperty({ format: 'uuid' }) messageId: string;
  @ApiProperty({ enum: [true] }) hidden: true;
}

export class DeleteResultDto {
  @ApiProperty({ format: 'uuid' }) messageId: string;
}
