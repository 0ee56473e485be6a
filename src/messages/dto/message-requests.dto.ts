import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, IsUUID, Matches, Max, MaxLength, Min, MinLength, ValidateIf } from 'class-validator';

export const MAX_TEXT = 4096;
/** Signal message types carried beside a ciphertext (whisper, prekey whisper, sender key…). */
const SIGNAL_TYPE = { min: 0, max: 10 };
const MAX_CIPHERTEXT = 64 * 1024 - 1024;

const bool = ({ value }: { value: unknown }) => (value === 'true' || value === '1' ? true : value === 'false' || value === '0' ? false : value);

/** `message:send` over the socket, with every field the wire contract lists. */
export class SendMessageDto {
  @IsUUID('all') chatId: string;
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsString() @MaxLength(MAX_TEXT * 2) text?: string | null;
  @IsOptional() @IsIn(['TEXT', 'IMAGE', 'FILE', 'AUDIO', 'VIDEO']) type?: 'TEXT' | 'IMAGE' | 'FILE' | 'AUDIO' | 'VIDEO';
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsString() @MaxLength(512) mediaUrl?: string | null;
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsString() @MaxLength(255) mediaName?: string | null;
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsInt() @Min(0) mediaSize?: number | null;
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsString() @MaxLength(64) mediaGroupId?: string | null;
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsUUID('all') replyToId?: string | null;
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsUUID('all') forwardedFromId?: string | null;
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsString() @Matches(/^[A-Za-z0-9+/=_-]+$/) @MaxLength(MAX_CIPHERTEXT) ciphertext?: string | null;
  @IsOptional() @ValidateIf((_, v) => v !== null) @IsInt() @Min(SIGNAL_TYPE.min) @Max(SIGNAL_TYPE.max) signalType?: number | null;
  @IsOptional() @IsString() @MinLength(1) @MaxLength(64) clientMessageId?: string;
}

/** `message:read` over the socket. */
export class ReadMessageDto {
  @IsUUID('all') messageId: string;
  @IsOptional() @IsUUID('all') chatId?: string;
}

/** `message:listened` over the socket; the web client may omit chatId. */
export class ListenedDto {
  @IsUUID('all') messageId: string;
  @IsOptional() @IsUUID('all') chatId?: string;
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

export class HistoryQuery {
  @ApiPropertyOptional({ format: 'uuid', description: 'the oldest message id already shown' }) @IsOptional() @IsUUID('all') cursor?: string;
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 50 }) @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100) limit?: number;
  @ApiPropertyOptional({ description: 'full-text search (not in secret chats)' }) @IsOptional() @IsString() @MinLength(1) @MaxLength(200) q?: string;
}

export class SearchQuery {
  @ApiProperty({ minLength: 1, maxLength: 200 }) @IsString() @MinLength(1) @MaxLength(200) q: string;
  @ApiPropertyOptional({ format: 'uuid' }) @IsOptional() @IsUUID('all') cursor?: string;
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 30 }) @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100) limit?: number;
}

export class DeleteQuery {
  @ApiPropertyOptional({ description: 'accepted from the web client; deletion is always for everyone' })
  @IsOptional()
  @Transform(bool)
  forEveryone?: boolean;
}

export class ReadResultDto {
  @ApiProperty({ format: 'uuid' }) messageId: string;
  @ApiProperty({ format: 'uuid' }) chatId: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) readAt: string | null;
}

