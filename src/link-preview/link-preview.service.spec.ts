import type { AppConfig } from '../core/config/app-config';
import type { OutboundPolicy } from '../core/outbound/outbound-policy';
import { ResolutionUnavailableError } from '../core/outbound/outbound-refused.error';
import type { RateLimiter } from '../core/rate-limit/rate-limiter';
import type { LinkPreviewFetcher } from './link-preview.fetcher';
import { FAILED_PREVIEW_TTL_SECONDS, LinkPreviewService, PREVIEW_TIMEOUT_MS } from './link-preview.service';
import { MemoryPreviewCache } from './preview-cache';
import { UpstreamError } from './remote-fetch';

const NULLS = { title: null, description: null, image: null, siteName: null };
const URL_ASKED = 'https://example.test/article';

/** The service with a fetcher that fails as `fail` says, counting its fetches; the cache is the embedded mode's. */
function service(fail: () => Promise<never>) {
  const fetches = { count: 0 };
  const fetcher = {
    preview: () => {
      fetches.count++;
      return fail();
    },
  } as unknown as LinkPreviewFetcher;
  const config = { values: { linkPreviewLimit: { limit: 1000, windowSeconds: 60 } } } as unknown as AppConfig;
  const limiter = { require: async () => undefined } as unknown as RateLimiter;
  return { previews: new LinkPreviewService(config, limiter, new MemoryPreviewCache(), fetcher, {} as OutboundPolicy), fetches };
}

describe('LinkPreviewService: what a failed preview leaves in the cache', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  const minutes = (n: number) => jest.advanceTimersByTimeAsync(n * 60_000);
  const pastDeadline = () => jest.advanceTimersByTimeAsync(PREVIEW_TIMEOUT_MS + 1_000);

  it('keeps a preview given up at its deadline only briefly: an ask a minute later fetches again', async () => {
    const { previews, fetches } = service(() => new Promise<never>(() => undefined));
    const first = previews.preview('u1', URL_ASKED);
    await pastDeadline();
    await expect(first).resolves.toEqual({ url: URL_ASKED, ...NULLS });
    expect(fetches.count).toBe(1);
    await minutes(1);
    const second = previews.preview('u2', URL_ASKED);
    await pastDeadline();
    await second;
    expect(fetches.count).toBe(2);
  });

  it.each([
    ['no DNS answer in time', 'TIMEOUT'],
    ['too many names being resolved', 'BUSY'],
  ] as const)('keeps a preview whose name was given up on (%s) only briefly', async (_name, kind) => {
    const { previews, fetches } = service(() => Promise.reject(new ResolutionUnavailableError(kind, 'given up')));
    await expect(previews.preview('u1', URL_ASKED)).resolves.toEqual({ url: URL_ASKED, ...NULLS });
    await minutes(1);
    await previews.preview('u2', URL_ASKED);
    expect(fetches.count).toBe(2);
  });

  it('keeps an answer of the target (an error status) for FAILED_PREVIEW_TTL_SECONDS', async () => {
    const { previews, fetches } = service(() => Promise.reject(new UpstreamError('Answered 404')));
    await previews.preview('u1', URL_ASKED);
    await minutes(1);
    await expect(previews.preview('u2', URL_ASKED)).resolves.toEqual({ url: URL_ASKED, ...NULLS });
    expect(fetches.count).toBe(1);
    await minutes(FAILED_PREVIEW_TTL_SECONDS / 60);
    await previews.preview('u3', URL_ASKED);
    expect(fetches.count).toBe(2);
  });
});
