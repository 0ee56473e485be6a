import { ApiProperty } from '@nestjs/swagger';
import { IsString, ValidateBy } from 'class-validator';
import { OutboundPolicy } from '../../core/outbound/outbound-policy';

/** An absolute http(s) URL whose parsed form is at most OutboundPolicy.MAX_URL_LENGTH characters. */
export function isHttpUrl(value: unknown): boolean {
  if (typeof value !== 'string' || value.length > OutboundPolicy.MAX_URL_LENGTH) return false;
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.href.length <= OutboundPolicy.MAX_URL_LENGTH;
  } catch {
    return false;
  }
}

const IsHttpUrl = () =>
  ValidateBy({
    name: 'isHttpUrl',
    validator: { validate: isHttpUrl, defaultMessage: (a) => `${a?.property} must be an absolute http or https URL of at most ${OutboundPolicy.MAX_URL_LENGTH} characters` },
  });

export class LinkPreviewQueryDto {
  @ApiProperty({ maxLength: 2048, description: 'absolute http(s) URL (URL-encoded in the query), at most 2048 characters' })
  @IsString()
  @IsHttpUrl()
  url: string;
}

export class LinkPreviewDto {
  @ApiProperty({ description: 'the URL asked for, as sent' }) url: string;
  @ApiProperty({ type: String, nullable: true, description: 'og:title, twitter:title or <title>' }) title: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'og:description, twitter:description or <meta name=description>' }) description: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'absolute http(s) URL of the remote image; load it through /api/link-preview/proxy' }) image: string | null;
  @ApiProperty({ type: String, nullable: true, description: 'og:site_name, or the oEmbed provider' }) siteName: string | null;
}
