import { ApiProperty, ApiPropertyOptional, ApiPropertyOptions } from '@nestjs/swagger';
import { PRIVACY_LEVELS } from '../user-settings';

const PRIVACY = { oneOf: [{ type: 'boolean' }, { type: 'string', enum: [...PRIVACY_LEVELS] }] } as ApiPropertyOptions;

/** The settings document: every known field with its value or default, plus the client's own keys. */
export class SettingsDto {
  @ApiProperty({ default: true }) notifSound: boolean;
  @ApiProperty({ default: true }) notifDesktop: boolean;
  @ApiProperty({ default: true }) sendByEnter: boolean;
  @ApiProperty({ enum: ['small', 'medium', 'large'], default: 'medium' }) fontSize: string;
  @ApiProperty({ ...PRIVACY, default: true, description: 'true/all, contacts, false/nobody' } as ApiPropertyOptions) showOnlineStatus: boolean | string;
  @ApiProperty({ ...PRIVACY, default: true, description: 'true/all, contacts, false/nobody' } as ApiPropertyOptions) showReadReceipts: boolean | string;
  @ApiProperty({ default: true }) mediaAutoDownload: boolean;
  @ApiProperty({ enum: ['default', 'dark', 'dots', 'gradient'], default: 'default' }) chatWallpaper: string;
  @ApiProperty({ enum: ['en', 'ru'], default: 'en' }) locale: string;
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
  @ApiPropertyOptional(PRIVACY) showOnlineStatus?: boolean | string;
  @ApiPropertyOptional(PRIVACY) showReadReceipts?: boolean | string;
  @ApiPropertyOptional() mediaAutoDownload?: boolean;
  @ApiPropertyOptional({ enum: ['default', 'dark', 'dots', 'gradient'] }) chatWallpaper?: string;
  @ApiPropertyOptional({ enum: ['en', 'ru'] }) locale?: string;
}
