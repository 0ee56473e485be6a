import ipaddr from 'ipaddr.js';
import type { IncomingMessage } from 'node:http';
import proxyAddr from 'proxy-addr';

/**
 * The client address of a raw request (a WebSocket upgrade never reaches Express), by Express's
 * own rule for `req.ip` with `trust proxy` set to TRUST_PROXY hops: the address that many hops
 * back along X-Forwarded-For, the socket's peer when 0.
 */
export function clientAddress(request: IncomingMessage, trustProxyHops: number): string {
  // A socket already gone has no peer address; all such sockets share one count.
  return proxyAddr(request, (_address, hop) => hop < trustProxyHops) ?? 'unknown';
}

/** Scopes remembered, by address: the same few clients send most requests, and parsing an address costs more than the lookup. */
const scopes = new Map<string, string>();
const MAX_REMEMBERED_SCOPES = 10_000;

/**
 * What one client is counted as: an IPv4 address, or the /64 of an IPv6 address (a single host
 * is commonly handed a whole /64, so per-address counts would not hold it back). IPv4-mapped
 * IPv6 addresses count as their IPv4 address.
 */
export function addressScope(address: string): string {
  let scope = scopes.get(address);
  if (scope === undefined) {
    scope = scopeOf(address);
    if (scopes.size >= MAX_REMEMBERED_SCOPES) scopes.delete(scopes.keys().next().value!);
    scopes.set(address, scope);
  }
  return scope;
}

function scopeOf(address: string): string {
  if (!ipaddr.isValid(address)) return address;
  const ip = ipaddr.process(address);
  if (ip instanceof ipaddr.IPv4) return ip.toString();
  const groups = ip.parts.slice(0, 4).map((part) => part.toString(16));
  return `${groups.join(':')}::/64`;
}

/** The per-IP count key of an Express request, whose `req.ip` already follows TRUST_PROXY. */
export function requestScope(req: { ip?: string; socket?: { remoteAddress?: string } }): string {
  const ip = req.ip ?? req.socket?.remoteAddress;
  return ip ? addressScope(ip) : 'unknown';
}
