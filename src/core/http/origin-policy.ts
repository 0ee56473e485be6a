import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';

/** What of a request the origin rule reads: its headers and whether it came over TLS to us. */
export type OriginRequest = Pick<IncomingMessage, 'headers' | 'socket'>;

/**
 * Which browser origins may change state (POST/PUT/PATCH/DELETE) and open the WebSocket with the
 * session cookie: the server's own origin and `CORS_ORIGINS`, nothing else.
 *
 * The server's own origin is the one the request was addressed to, read like Express reads
 * `req.protocol` and `req.host`: the `Host` header and the TLS state of the socket, or, when
 * `TRUST_PROXY` is set, `X-Forwarded-Host` and `X-Forwarded-Proto` (first value) where the
 * balancer sent them. A browser fills `Host` and `Origin` itself and a cross-origin page cannot
 * set either (nor the X-Forwarded-* headers), so a page elsewhere never matches; a non-browser
 * client that forges them gains nothing it could not do without a browser.
 *
 * A request with no `Origin` (native apps, curl, server-to-server) is not a browser's
 * cross-origin request and passes; `Origin: null` (sandboxed frames, `data:` pages, some
 * redirects) is refused like any foreign origin.
 */
export class OriginPolicy {
  private readonly allowed: ReadonlySet<string>;

  constructor(
    corsOrigins: readonly string[],
    private readonly trustProxy: number,
  ) {
    this.allowed = new Set(corsOrigins);
  }

  /** `origin`: the Origin header as sent, or undefined when there was none. */
  allows(origin: string | undefined, request: OriginRequest): boolean {
    if (origin === undefined) return true;
    const claimed = normalOrigin(origin);
    if (!claimed) return false;
    return this.allowed.has(claimed) || claimed === this.ownOrigin(request);
  }

  /** `scheme://host[:port]` the request was addressed to, or null when it names no valid host. */
  ownOrigin(request: OriginRequest): string | null {
    const proxied = this.trustProxy > 0;
    const protocol = (proxied && firstValue(request.headers['x-forwarded-proto'])) || ((request.socket as TLSSocket).encrypted ? 'https' : 'http');
    const host = (proxied && firstValue(request.headers['x-forwarded-host'])) || request.headers.host;
    if (!host || !/^https?$/i.test(protocol)) return null;
    return normalOrigin(`${protocol.toLowerCase()}://${host}`);
  }
}

/** The serialised origin (lower-case host, default port dropped), or null for `null` and garbage. */
function normalOrigin(value: string): string | null {
  try {
    const url = new URL(value);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    if (url.username || url.password || url.pathname !== '/' || url.search || url.hash) return null;
    return url.origin;
  } catch {
    return null;
  }
}

function firstValue(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  return value?.split(',')[0].trim() || undefined;
}
