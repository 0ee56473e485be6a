import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsInt, IsOptional, Max, Min, ValidateIf } from 'class-validator';

export const MAX_INVITE_HOURS = 8760;
export const MAX_INVITE_USES = 100000;

/** `POST /api/chats/:id/invite` (wire-contract-v2.2 §6): missing or null is no expiry, no use limit. */
export class CreateInviteLinkDto {
  @ApiPropertyOptional({ type: Number, nullable: true, minimum: 1, maximum: MAX_INVITE_HOURS, description: 'hours until the link expires; null: never' })
  @IsOptional()
  @ValidateIf((_, v) => v !== null)
  @IsInt()
  @Min(1)
  @Max(MAX_INVITE_HOURS)
  expiresInHours?: number | null;

  @ApiPropertyOptional({ type: Number, nullable: true, minimum: 1, maximum: MAX_INVITE_USES, description: 'joins the link admits; null: unlimited' })
  @IsOptional()
  @ValidateIf((_, v) => v !== null)
  @IsInt()
  @Min(1)
  @Max(MAX_INVITE_USES)
  maxUses?: number | null;
}

/** The InviteLink object (wire-contract-v2.2 §1.2). */
export class InviteLinkDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ pattern: '^[A-Za-z0-9_-]{22}$', description: '128 random bits, base64url; the client opens <origin>/join/<code>' }) code: string;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) expiresAt: string | null;
  @ApiProperty({ type: Number, nullable: true }) maxUses: number | null;
  @ApiProperty() uses: number;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
}

export class InviteRevokedDto {
  @ApiProperty({ enum: [true] }) revoked: true;
}

export class InvitePreviewCountDto {
  @ApiProperty() members: number;
}

export class InvitePreviewChatDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ type: String, nullable: true }) name: string | null;
  @ApiProperty({ type: String, nullable: true }) avatar: string | null;
  @ApiProperty({ type: String, nullable: true }) description: string | null;
  @ApiProperty({ type: InvitePreviewCountDto }) _count: InvitePreviewCountDto;
}

/** What `GET /api/chats/join/:code` shows before joining. */
export class InvitePreviewDto {
  @ApiProperty() code: string;
  @ApiProperty({ type: InvitePreviewChatDto }) chat: InvitePreviewChatDto;
}
