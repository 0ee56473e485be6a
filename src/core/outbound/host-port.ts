import { isIPv6 } from 'node:net';

/**
 * The canonical `host:port` key of a destination, as the WHATWG URL parser writes the host
 * (lower case, punycode, IPv4 in dotted decimal, IPv6 in brackets and compressed), so that
 * `LOCALHOST:8080`, `127.1:8080` or `[0:0::1]:8080` compare equal to what a request URL yields.
 * Null when `host` is not a plain host name or address.
 */
export function hostPortKey(host: string, port: number): string | null {
  if (!Number.isInteger(port) || port < 1 || port > 65535) return null;
  const bracketed = isIPv6(host) ? `[${host}]` : host;
  if (!bracketed || /[/?#@\\\s]/.test(bracketed)) return null;
  try {
    const hostname = new URL(`http://${bracketed}`).hostname;
    return hostname ? `${hostname}:${port}` : null;
  } catch {
    return null;
  }
}

/** Parses one `host:port` entry of OUTBOUND_ALLOW_HOSTS (IPv6 in brackets) into its key. */
export function parseHostPort(entry: string): string | null {
  const match = /^(\[[^\]]+\]|[^:[\]]+):(\d{1,5})$/.exec(entry.trim());
  if (!match) return null;
  return hostPortKey(match[1], Number(match[2]));
}
