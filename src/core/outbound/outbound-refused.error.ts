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
