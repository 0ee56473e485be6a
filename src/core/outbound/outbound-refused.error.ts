/** Why OutboundPolicy refused a destination. */
export type OutboundRefusalReason =
  /** Not an absolute URL. */
  | 'INVALID_URL'
  /** Not http: or https:. */
  | 'SCHEME'
  /** Longer than OutboundPolicy.MAX_URL_LENGTH. */
  | 'URL_TOO_LONG'
  /** user:password@ in the URL: the server never sends credentials a user wrote into a link. */
  | 'CREDENTIALS'
  /** Not the scheme's default port, and the exact host:port is not in OUTBOUND_ALLOW_HOSTS. */
  | 'PORT'
  /** The host is, or resolves to, a private, loopback, link-local or otherwise non-public address. */
  | 'ADDRESS'
  /** The host name does not resolve. */
  | 'UNRESOLVABLE';

/** The longest URL the server fetches (OutboundPolicy.MAX_URL_LENGTH). */
export const MAX_OUTBOUND_URL_LENGTH = 2048;

/**
 * What a client may be told of each refusal. The error's own message names the addresses a host
 * resolved to, for the server's logs; a client must never learn those (they map internal names).
 */
export const OUTBOUND_REFUSAL_MESSAGES: Record<OutboundRefusalReason, string> = {
  ADDRESS: 'This address is not fetched: it is not a public address (private, loopback, link-local or reserved)',
  UNRESOLVABLE: 'This address is not fetched: its host name does not resolve',
  PORT: 'This address is not fetched: only the default port (80 for http, 443 for https) is',
  SCHEME: 'Only http and https URLs are fetched',
  CREDENTIALS: 'URLs with credentials are not fetched',
  INVALID_URL: 'Not an absolute URL',
  URL_TOO_LONG: `URLs are at most ${MAX_OUTBOUND_URL_LENGTH} characters`,
};

/**
 * Thrown by OutboundPolicy.check and raised on a request whose connection the outbound agents
 * refused (as the request's 'error'), so callers can tell a refusal from a network failure.
 */
export class OutboundRefusedError extends Error {
  readonly code = 'EOUTBOUNDREFUSED';

  constructor(
    readonly reason: OutboundRefusalReason,
    message: string,
  ) {
    super(message);
    this.name = 'OutboundRefusedError';
  }
}

/**
 * A host name given up on by this process rather than answered by the DNS: no answer within
 * RESOLVE_DEADLINE_MS (`TIMEOUT`), or too many resolutions in flight (`BUSY`). Its reason is
 * UNRESOLVABLE, so every caller treats it as a name that does not resolve right now (Web Push
 * tries again later, the image proxy answers 502); its class says that it tells nothing of the
 * host, so a link preview that failed of it is not remembered as empty.
 */
export class ResolutionUnavailableError extends OutboundRefusedError {
  constructor(
    readonly kind: 'TIMEOUT' | 'BUSY',
    message: string,
  ) {
    super('UNRESOLVABLE', message);
    this.name = 'ResolutionUnavailableError';
  }
}
