import ipaddr from 'ipaddr.js';
import { isIP } from 'node:net';

/**
 * Ranges refused on top of every non-`unicast` range of ipaddr.js (private, loopback,
 * link-local, CGNAT, unspecified, multicast, broadcast, reserved, ULA, IPv4-mapped, NAT64,
 * 6to4, Teredo...): the deprecated IPv4-compatible IPv6 form (`::127.0.0.1`), which ipaddr.js
 * files under unicast, and the local-use NAT64 prefix of RFC 8215.
 */
export const EXTRA_REFUSED_CIDRS: readonly string[] = ['::/96', '64:ff9b:1::/48'];

const EXTRA_REFUSED = EXTRA_REFUSED_CIDRS.map((cidr) => ({ cidr, range: ipaddr.parseCIDR(cidr) }));

/**
 * Why an outbound connection to this IP address is refused (the ipaddr.js range name, e.g.
 * `loopback`, `private`, `ipv4Mapped`), or null for a public unicast address. Anything that is
 * not an IP address is refused as `invalid`.
 */
export function refusedAddressReason(address: string): string | null {
  if (isIP(address) === 0) return 'invalid';
  const ip = ipaddr.parse(address);
  const range = ip.range();
  if (range !== 'unicast') return range;
  for (const extra of EXTRA_REFUSED) {
    if (ip.kind() === extra.range[0].kind() && ip.match(extra.range)) return `refused range ${extra.cidr}`;
  }
  return null;
}
