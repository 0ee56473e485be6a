import { Injectable, Logger } from '@nestjs/common';
import { Readable } from 'node:stream';
import { withTimeout } from '../core/async/with-timeout';
import { AppConfig } from '../core/config/app-config';
import { AppError } from '../core/errors';
import { OutboundPolicy } from '../core/outbound/outbound-policy';
import { OUTBOUND_REFUSAL_MESSAGES, OutboundRefusedError, ResolutionUnavailableError } from '../core/outbound/outbound-refused.error';
import { RateLimiter } from '../core/rate-limit/rate-limiter';
import { LinkPreviewDto } from './dto/link-preview.dto';
import { LinkPreviewFetcher } from './link-preview.fetcher';
import { PreviewCache } from './preview-cache';
import { EMPTY_PREVIEW, PreviewFields } from './preview-fields';
import { decodedBody, fetchRemote } from './remote-fetch';

/** The whole preview (every redirect, oEmbed, the page) must be done within this. */
export const PREVIEW_TIMEOUT_MS = 5_000;
/** A preview is kept this long (wire-contract-v2.2 §10). */
export const PREVIEW_TTL_SECONDS = 24 * 3600;
/** A target that failed is asked again after this, not a day later: most failures are passing. */
export const FAILED_PREVIEW_TTL_SECONDS = 10 * 60;
/**
 * A preview given up on by this process (its 5 s deadline passed, the DNS did not answer in
 * time, too many names were being resolved) tells nothing of the page: kept only this long, to
 * spare a slow target repeated fetches, so a load on the server does not blank a link for
 * everyone for FAILED_PREVIEW_TTL_SECONDS.
 */
export const GIVEN_UP_PREVIEW_TTL_SECONDS = 30;
/** Images larger than this are not proxied (413). */
export const MAX_PROXIED_IMAGE_BYTES = 5 * 1024 * 1024;
/** The whole proxied exchange, body included. */
export const PROXY_TIMEOUT_MS = 10_000;

const IMAGE_TYPE = /^image\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;

/** An upstream image ready to stream; `done()` releases its timer and connection. */
export interface ProxiedImage {
  contentType: string;
  /** The upstream's length, when it sent the bytes unencoded. */
  contentLength: number | null;
  body: Readable;
  done(): void;
}

/**
 * Link previews, fetched only when a client asks (the server never looks at message text, so
 * secret-chat ciphertext and every other message are never fetched on its own), cached by URL
 * for every user. Refused addresses, network errors, timeouts and pages without tags all answer
 * the four fields null: the client retries a GET on 5xx, and a missing preview is not an error.
 */
@Injectable()
export class LinkPreviewService {
  private readonly logger = new Logger('LinkPreview');
  /** Previews being fetched by this instance, so simultaneous asks for one URL share a fetch. */
  private readonly inflight = new Map<string, Promise<PreviewFields>>();

  constructor(
    private readonly config: AppConfig,
    private readonly limiter: RateLimiter,
    private readonly cache: PreviewCache,
    private readonly fetcher: LinkPreviewFetcher,
    private readonly policy: OutboundPolicy,
  ) {}

  async preview(userId: string, rawUrl: string): Promise<LinkPreviewDto> {
    await this.limit('link-preview', userId);
    const url = new URL(rawUrl);
    // The fragment never leaves the browser: one page, one cache entry.
    url.hash = '';
    const key = url.href;
    const fields = (await this.cache.get(key)) ?? (await this.fetchShared(key, url));
    return { url: rawUrl, ...fields };
  }

  /**
   * Opens an image for /api/link-preview/proxy: same URL rules, redirects and address checks as
   * previews; the upstream must answer an `image/*` type (else 415) of at most
   * MAX_PROXIED_IMAGE_BYTES when it says its length (else 413). A refusal of the outbound policy,
   * on the first URL or any redirect, is 403 OUTBOUND_REFUSED with its `reason`; a name that
   * does not resolve, a failed connection or an error status is 502. The caller streams `body`
   * and cuts it past the limit when no length was given.
   */
  async openImage(userId: string, rawUrl: string): Promise<ProxiedImage> {
    await this.limit('link-preview-proxy', userId);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), PROXY_TIMEOUT_MS);
    const done = () => {
      clearTimeout(timer);
      controller.abort();
    };
    let remote;
    try {
      remote = await fetchRemote(this.policy, new URL(rawUrl), { accept: 'image/avif,image/webp,image/png,image/jpeg,image/gif,image/*;q=0.8', signal: controller.signal });
    } catch (error) {
      done();
      this.logger.debug(`proxy ${originOf(rawUrl)}: ${(error as Error).message}`);
      if (error instanceof OutboundRefusedError && error.reason !== 'UNRESOLVABLE') {
        // The reason beside the code tells a refusal by policy from an unreachable upstream; never the addresses resolved.
        throw new AppError('OUTBOUND_REFUSED', OUTBOUND_REFUSAL_MESSAGES[error.reason], { reason: error.reason });
      }
      throw new AppError('UPSTREAM_UNAVAILABLE');
    }
    if (!IMAGE_TYPE.test(remote.mediaType)) {
      done();
      throw new AppError('UNSUPPORTED_MEDIA_TYPE', 'The remote file is not an image');
    }
    const declared = remote.response.headers['content-length'];
    const contentLength = declared !== undefined && /^\d+$/.test(declared) ? Number(declared) : null;
    if (contentLength !== null && contentLength > MAX_PROXIED_IMAGE_BYTES) {
      done();
      throw new AppError('FILE_TOO_LARGE', `The remote image is larger than ${MAX_PROXIED_IMAGE_BYTES / 1024 / 1024} MB`);
    }
    // Unpacked here (the request asked for none, but an upstream may send one anyway), so the
    // 5 MB cut-off counts the bytes the browser ends up with: 30 KB of gzip can unpack to 30 MB.
    let body: Readable;
    try {
      body = decodedBody(remote.response);
    } catch (error) {
      done();
      this.logger.debug(`proxy ${originOf(rawUrl)}: ${(error as Error).message}`);
      throw new AppError('UPSTREAM_UNAVAILABLE');
    }
    // A declared length is the encoded one's: of no use once unpacked.
    return { contentType: remote.mediaType, contentLength: body === remote.response ? contentLength : null, body, done };
  }

  private async limit(name: string, userId: string): Promise<void> {
    await this.limiter.require(name, userId, this.config.values.linkPreviewLimit, 'Too many link previews');
  }

  private fetchShared(key: string, url: URL): Promise<PreviewFields> {
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.fetchAndCache(key, url).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  private async fetchAndCache(key: string, url: URL): Promise<PreviewFields> {
    const controller = new AbortController();
    const deadline = new Error(`No preview within ${PREVIEW_TIMEOUT_MS} ms`);
    const outcome = await withTimeout(
      this.fetcher.preview(url, controller.signal).then(
        (fields) => ({ fields }),
        (error: Error) => ({ error }),
      ),
      PREVIEW_TIMEOUT_MS,
      { error: deadline },
    );
    // Whatever is still open (a slow body, a DNS answer that never came) is given up.
    controller.abort();
    if ('error' in outcome) {
      this.logger.debug(`preview ${originOf(key)}: ${outcome.error.message}`);
      const givenUp = outcome.error === deadline || outcome.error instanceof ResolutionUnavailableError;
      await this.cache.set(key, EMPTY_PREVIEW, givenUp ? GIVEN_UP_PREVIEW_TTL_SECONDS : FAILED_PREVIEW_TTL_SECONDS);
      return { ...EMPTY_PREVIEW };
    }
    await this.cache.set(key, outcome.fields, PREVIEW_TTL_SECONDS);
    return outcome.fields;
  }
}

/**
 * A URL as the logs show it: its origin. Its path and query came from a message (a capability
 * link, a signed download), which no log keeps, as the access log keeps no query either.
 */
function originOf(url: string): string {
  try {
    const { protocol, host } = new URL(url);
    return `${protocol}//${host}`;
  } catch {
    return '(not a URL)';
  }
}
