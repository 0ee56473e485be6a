import { Controller, Get, Query, Res } from '@nestjs/common';
import { ApiCookieAuth, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Auth, AuthContext } from '../auth/auth-context';
import { ApiEnvelope, ApiErrors } from '../core/http/api-docs';
import { LinkPreviewDto, LinkPreviewQueryDto } from './dto/link-preview.dto';
import { LinkPreviewService, MAX_PROXIED_IMAGE_BYTES, PREVIEW_TIMEOUT_MS } from './link-preview.service';

const OUTBOUND_RULES =
  'Only http(s) URLs of at most 2048 characters (else 422); the server fetches only public addresses on the default port (80/443), ' +
  'checked after DNS resolution and again on every redirect (at most 5), unless the exact host:port is in OUTBOUND_ALLOW_HOSTS.';

@ApiTags('link-preview')
@ApiCookieAuth()
@Controller('api/link-preview')
export class LinkPreviewController {
  constructor(private readonly previews: LinkPreviewService) {}

  @Get()
  @ApiOperation({
    summary: 'Preview of a link: title, description, image and site name',
    description:
      `${OUTBOUND_RULES} Open Graph, then Twitter card tags, then <title>; oEmbed for YouTube (image: the maxresdefault thumbnail) and Vimeo. ` +
      `At most 1 MB of HTML is read, within ${PREVIEW_TIMEOUT_MS / 1000} s. Any failure of the target (refused address, network, timeout, ` +
      'error status, not HTML) answers 200 with the four fields null, never 5xx. Results are cached 24 h for everyone (failures 10 min). ' +
      'RATE_LIMIT_LINK_PREVIEW per user (60/min by default).',
  })
  @ApiEnvelope(LinkPreviewDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'RATE_LIMIT')
  preview(@Auth() auth: AuthContext, @Query() query: LinkPreviewQueryDto): Promise<LinkPreviewDto> {
    return this.previews.preview(auth.userId, query.url);
  }

  @Get('proxy')
  @ApiOperation({
    summary: 'A remote image, through the server (for <img src>); raw bytes, no envelope',
    description:
      `${OUTBOUND_RULES} Streams the upstream bytes with its Content-Type, which must be image/* (else 415); at most 5 MB ` +
      '(413 when the upstream says so; an upstream that gives no length is cut off past 5 MB, counted after undoing any Content-Encoding it sent). Refused by the outbound rules (first URL or a redirect): 403 OUTBOUND_REFUSED with `reason` ' +
      '(ADDRESS: not a public address, whatever the port; PORT: a public address on another port than 80/443; SCHEME: a redirect to another scheme; CREDENTIALS; URL_TOO_LONG); ' +
      'unreachable or failing upstream: 502 UPSTREAM_UNAVAILABLE. Answers carry Cache-Control: private, max-age=86400 (the browser keeps the image; not a shared cache: it is for one session and may renew its cookie) and X-Content-Type-Options: nosniff. ' +
      'RATE_LIMIT_LINK_PREVIEW per user, counted apart from previews.',
  })
  @ApiResponse({ status: 200, description: 'The image bytes', content: { 'image/*': { schema: { type: 'string', format: 'binary' } } } })
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'RATE_LIMIT', 'OUTBOUND_REFUSED', 'FILE_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'UPSTREAM_UNAVAILABLE')
  async proxy(@Auth() auth: AuthContext, @Query() query: LinkPreviewQueryDto, @Res() response: Response): Promise<void> {
    const image = await this.previews.openImage(auth.userId, query.url);
    response.status(200).set({
      'Content-Type': image.contentType,
      // The browser's own cache only: the answer is for a session (a shared cache would serve it
      // past the session check and the rate limit) and may carry its renewed cookie.
      'Cache-Control': 'private, max-age=86400',
      'X-Content-Type-Options': 'nosniff',
      // An SVG opened directly must not run script with this origin's rights.
      'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; sandbox",
      ...(image.contentLength !== null ? { 'Content-Length': String(image.contentLength) } : {}),
    });
    // The status is sent: an image that turns out too large, or an upstream that fails midway, can only be cut off.
    await pipeline(image.body, byteLimit(MAX_PROXIED_IMAGE_BYTES), response)
      .catch(() => response.destroy())
      .finally(() => image.done());
  }
}

/** Passes bytes through until `max`, then fails the pipeline. */
function byteLimit(max: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > max) callback(new Error(`More than ${max} bytes`));
      else callback(null, chunk);
    },
  });
}
