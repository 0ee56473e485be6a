import { ApiProperty, ApiPropertyOptional, ApiPropertyOptions } from '@nestjs/swagger';
import { AUTO_DELETE_MONTHS, PRIVACY_LEVELS } from '../user-settings';

const PRIVACY_IN = { oneOf: [{ type: 'boolean' }, { type: 'string', enum: [...PRIVACY_LEVELS] }], description: 'all, contacts, nobody; true means all, false nobody' } as ApiPropertyOptions;
const PRIVACY_OUT = { enum: [...PRIVACY_LEVELS], default: 'all' } as ApiPropertyOptions;

/** The settings document: every known field with its value or default (privacy fields always as levels), plus the client's own keys. */
export class SettingsDto {
  @ApiProperty({ default: true }) notifSound: boolean;
  @ApiProperty({ default: true }) notifDesktop: boolean;
  @ApiProperty({ default: true }) sendByEnter: boolean;
  @ApiProperty({ enum: ['small', 'medium', 'large'], default: 'medium' }) fontSize: string;
  @ApiProperty({ ...PRIVACY_OUT, description: 'who sees your online state and last-seen time' }) showOnlineStatus: string;
  @ApiProperty({ ...PRIVACY_OUT, description: 'who sees your read receipts' }) showReadReceipts: string;
  @ApiProperty({ ...PRIVACY_OUT, description: 'who sees your avatar: everyone else gets avatar null in every User and message sender' }) showAvatar: string;
  @ApiProperty({ ...PRIVACY_OUT, description: 'who may add you to groups (others get 403 PRIVACY_GROUP_INVITE:<names>); joining by link is not affected' }) allowGroupInvites: string;
  @ApiProperty({ default: true }) mediaAutoDownload: boolean;
  @ApiProperty({ enum: ['default', 'dark', 'dots', 'gradient'], default: 'default' }) chatWallpaper: string;
  @ApiProperty({ enum: ['dark', 'light'], default: 'dark' }) theme: string;
  @ApiProperty({ enum: ['en', 'ru'], nullable: true, default: null, description: 'null until chosen' }) locale: string | null;
  @ApiProperty({ enum: [...AUTO_DELETE_MONTHS], default: 'never' }) autoDeleteMonths: string;
  @ApiProperty({ enum: [0, 1, 2], default: 0, description: "index into the client's playback speeds" }) voiceSpeed: number;
}

/**
 * A partial update, merged into the stored document. Other keys are kept when their names are
 * at most 64 characters of [A-Za-z0-9_.-] and their values primitive (at most 64 such keys).
 */
export class UpdateSettingsDto {
  @ApiPropertyOptional() notifSound?: boolean;
  @ApiPropertyOptional() notifDesktop?: boolean;
  @ApiPropertyOptional() sendByEnter?: boolean;
  @ApiPropertyOptional({ enum: ['small', 'medium', 'large'] }) fontSize?: string;
  @ApiPropertyOptional(PRIVACY_IN) showOnlineStatus?: boolean | string;
  @ApiPropertyOptional(PRIVACY_IN) showReadReceipts?: boolean | string;
  @ApiPropertyOptional(PRIVACY_IN) showAvatar?: boolean | string;
  @ApiPropertyOptional(PRIVACY_IN) allowGroupInvites?: boolean | string;
  @ApiPropertyOptional() mediaAutoDownload?: boolean;
  @ApiPropertyOptional({ enum: ['default', 'dark', 'dots', 'gradient'] }) chatWallpaper?: string;
  @ApiPropertyOptional({ enum: ['dark', 'light'] }) theme?: string;
  @ApiPropertyOptional({ enum: ['en', 'ru'], nullable: true }) locale?: string | null;
  @ApiPropertyOptional({ enum: [...AUTO_DELETE_MONTHS] }) autoDeleteMonths?: string;
  @ApiPropertyOptional({ enum: [0, 1, 2] }) voiceSpeed?: number;
}
