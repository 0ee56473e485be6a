import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform } from 'class-transformer';
import { IsIn, IsOptional, IsString, ValidateBy } from 'class-validator';
import { atMostCodePoints } from '../../core/text/code-points';
import { IsId } from '../../core/http/is-id';

export const REPORT_REASONS = ['SPAM', 'ABUSE', 'VIOLENCE', 'NSFW', 'OTHER'] as const;
export type ReportReason = (typeof REPORT_REASONS)[number];
export const DETAILS_MAX = 1000;

/** Empty details are the same as none (the client leaves them out). */
const blankToUndefined = ({ value }: { value: unknown }) => (typeof value === 'string' && value.trim() === '' ? undefined : value);

/** At most DETAILS_MAX characters as people count them (code points), which is also how the database's check counts. */
const MaxCharacters = (max: number) =>
  ValidateBy({
    name: 'maxCharacters',
    validator: { validate: (value: unknown) => typeof value === 'string' && atMostCodePoints(value, max), defaultMessage: (a) => `${a?.property} must be at most ${max} characters` },
  });

/** `POST /api/reports` (contract v2.2 §11). At least one target; the service says so when none is given. */
export class CreateReportDto {
  @ApiPropertyOptional({ type: String, format: 'uuid', nullable: true, description: 'the user reported (for a message report, its sender)' })
  @IsOptional()
  @IsId({ message: 'targetUserId must be a user id' })
  targetUserId?: string | null;

  @ApiPropertyOptional({ type: String, format: 'uuid', nullable: true, description: 'a message in one of your chats' })
  @IsOptional()
  @IsId({ message: 'targetMessageId must be a message id' })
  targetMessageId?: string | null;

  @ApiPropertyOptional({ type: String, format: 'uuid', nullable: true, description: 'one of your chats' })
  @IsOptional()
  @IsId({ message: 'targetChatId must be a chat id' })
  targetChatId?: string | null;

  @ApiProperty({ enum: REPORT_REASONS })
  @IsIn(REPORT_REASONS)
  reason: ReportReason;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: DETAILS_MAX, description: 'counted in characters; empty is the same as none' })
  @Transform(blankToUndefined)
  @IsOptional()
  @IsString()
  @MaxCharacters(DETAILS_MAX)
  details?: string | null;
}

export class ReportCreatedDto {
  @ApiProperty({ format: 'uuid', description: 'the new report, or the one this reporter filed on the same targets for the same reason within 24 hours' })
  id: string;
}
