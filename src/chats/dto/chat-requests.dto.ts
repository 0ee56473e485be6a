import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsBoolean, IsIn, IsInt, IsOptional, IsString, Length, Matches, Max, MaxLength, Min, ValidateIf } from 'class-validator';
import { IsId } from '../../core/http/is-id';
import { displayText } from '../../core/text/display-text';

const trim = ({ value }: { value: unknown }) => (typeof value === 'string' ? value.trim() : value);
/** A group's name as members see it (displayText): nothing visible left is no name, refused. */
const groupName = ({ value }: { value: unknown }) => (typeof value === 'string' ? displayText(value) : value);
const toBool = ({ value }: { value: unknown }) => (value === 'true' || value === '1' ? true : value === 'false' || value === '0' ? false : value);

/** A relative path of an uploaded file, as the clients send media and avatars. */
export const UPLOAD_PATH = /^\/uploads\/(?:(?:medium|thumbs)\/)?[A-Za-z0-9_-]+\.[a-z0-9]+$/;

/** A group's description, at most this many characters (wire-contract-v2.2 §1.1). */
export const MAX_DESCRIPTION = 512;
/** A sanity bound on id lists; the 200-member limit itself answers GROUP_LIMIT_EXCEEDED (§18.6). */
const MAX_IDS_PER_REQUEST = 1000;

export class DirectChatDto {
  @ApiProperty({ format: 'uuid' }) @IsId({ message: 'targetUserId must be a user id' }) targetUserId: string;
}

export class GroupChatDto {
  @ApiProperty({ minLength: 1, maxLength: 64 }) @Transform(groupName) @IsString() @Length(1, 64) name: string;
  @ApiProperty({ type: [String], format: 'uuid', description: 'at most 199 others (GROUP_LIMIT_EXCEEDED past that)' })
  @IsArray()
  @ArrayMaxSize(MAX_IDS_PER_REQUEST)
  @IsId({ each: true })
  memberIds: string[];
  @ApiPropertyOptional({ type: String, nullable: true }) @IsOptional() @IsString() @Matches(UPLOAD_PATH) avatar?: string | null;
  @ApiPropertyOptional({ type: String, nullable: true, maxLength: MAX_DESCRIPTION }) @IsOptional() @ValidateIf((_, v) => v !== null) @IsString() @MaxLength(MAX_DESCRIPTION) description?: string | null;
}

export class UpdateChatDto {
  // Absent leaves the name; null is no name, refused as "" is (a group always has one).
  @ApiPropertyOptional({ minLength: 1, maxLength: 64 }) @ValidateIf((_, v) => v !== undefined) @Transform(groupName) @IsString() @Length(1, 64) name?: string;
  @ApiPropertyOptional({ type: String, nullable: true, description: 'an /uploads/… path you uploaded, or null' })
  @IsOptional()
  @ValidateIf((_, v) => v !== null)
  @IsString()
  @Matches(UPLOAD_PATH, { message: 'avatar must be an /uploads/… path' })
  avatar?: string | null;
  @ApiPropertyOptional({ type: String, nullable: true, maxLength: MAX_DESCRIPTION, description: 'GROUP only; "" or null clears it' })
  @IsOptional()
  @ValidateIf((_, v) => v !== null)
  @IsString()
  @MaxLength(MAX_DESCRIPTION)
  description?: string | null;
}

export class ChangeRoleDto {
  @ApiProperty({ enum: ['ADMIN', 'MEMBER'], description: 'ownership cannot be transferred' })
  @IsIn(['ADMIN', 'MEMBER'], { message: 'role must be ADMIN or MEMBER' })
  role: 'ADMIN' | 'MEMBER';
}

export class PinMessageDto {
  @ApiProperty({ type: String, format: 'uuid', nullable: true, description: 'a message of this chat, or null to unpin' })
  @ValidateIf((_, v) => v !== null)
  @IsString()
  @MaxLength(64)
  messageId: string | null;
}

export class AddMembersDto {
  @ApiProperty({ type: [String], format: 'uuid', description: 'GROUP_LIMIT_EXCEEDED when the group would pass 200 members' })
  @IsArray()
  @ArrayMaxSize(MAX_IDS_PER_REQUEST)
  @IsId({ each: true })
  userIds: string[];
}

export class ChatListQuery {
  @ApiPropertyOptional({ description: 'nextCursor of the previous page' }) @IsOptional() @IsString() @MaxLength(200) cursor?: string;
  @ApiPropertyOptional({ minimum: 1, maximum: 100, description: 'page size; without it every chat is listed' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(100)
  limit?: number;
  @ApiPropertyOptional({ description: 'true lists archived chats only' }) @IsOptional() @Transform(toBool) @IsBoolean() archived?: boolean;
}

export const SHARED_TYPES = ['IMAGE', 'VIDEO', 'FILE', 'AUDIO'] as const;
/** The web client's tabs: media = images and videos, files, voice = audio; links have no media rows. */
export const SHARED_TABS = ['media', 'files', 'links', 'voice'] as const;

export class SharedQuery {
  @ApiPropertyOptional({ enum: SHARED_TYPES }) @IsOptional() @IsIn(SHARED_TYPES) type?: (typeof SHARED_TYPES)[number];
  @ApiPropertyOptional({ enum: SHARED_TABS }) @IsOptional() @IsIn(SHARED_TABS) tab?: (typeof SHARED_TABS)[number];
  @ApiPropertyOptional({ format: 'uuid' }) @IsOptional() @IsId() cursor?: string;
  @ApiPropertyOptional({ minimum: 1, maximum: 100, default: 30 }) @IsOptional() @Type(() => Number) @IsInt() @Min(1) @Max(100) limit?: number;
}

export class MuteChatDto {
  @ApiProperty({ description: 'true mutes until further notice, false unmutes' }) @IsBoolean() muted: boolean;
}

export class PinChatDto {
  @ApiProperty() @IsBoolean() pinned: boolean;
}

export class ArchiveChatDto {
  @ApiProperty() @IsBoolean() archived: boolean;
}

/** Longest draft, in characters after trimming (wire-contract-v2.2 §4). */
export const MAX_DRAFT = 10_000;

export class SaveDraftDto {
  @ApiProperty({ minLength: 1, maxLength: MAX_DRAFT }) @Transform(trim) @IsString() @Length(1, MAX_DRAFT) text: string;
  @ApiPropertyOptional({ type: String, format: 'uuid', nullable: true, description: 'kept only when it is a message of this chat' })
  @IsOptional()
  @ValidateIf((_, v) => v !== null)
  @IsString()
  @MaxLength(64)
  replyToId?: string | null;
}
