import { normalizeIp } from '@nestjs/throttler';

/**
 * The address a per-IP limit counts: the client IP as Express resolved it (X-Forwarded-For per
 * TRUST_PROXY), with an IPv6 address cut to its /64. One subscriber usually holds a whole /64,
 * so counting single IPv6 addresses would give one client 2^64 fresh budgets.
 */
export function clientAddress(req: { ip?: string; socket?: { remoteAddress?: string } }): string {
  const ip = req.ip ?? req.socket?.remoteAddress;
  return ip ? normalizeIp(ip, 64) : 'unknown';
}
