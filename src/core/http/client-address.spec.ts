import type { IncomingMessage } from 'node:http';
import { addressScope, clientAddress, requestScope } from './client-address';

const request = (remoteAddress: string, forwardedFor?: string) =>
  ({ socket: { remoteAddress }, headers: forwardedFor ? { 'x-forwarded-for': forwardedFor } : {} }) as unknown as IncomingMessage;

describe('clientAddress', () => {
  it('is the peer without trusted proxies, whatever X-Forwarded-For says', () => {
    expect(clientAddress(request('10.0.0.5', '203.0.113.7'), 0)).toBe('10.0.0.5');
  });

  it('walks back as many hops as TRUST_PROXY trusts', () => {
    const req = request('10.0.0.5', '198.51.100.1, 203.0.113.7');
    expect(clientAddress(req, 1)).toBe('203.0.113.7');
    expect(clientAddress(req, 2)).toBe('198.51.100.1');
    expect(clientAddress(req, 5)).toBe('198.51.100.1');
  });
});

describe('addressScope', () => {
  it('keeps an IPv4 address, also when mapped into IPv6', () => {
    expect(addressScope('203.0.113.7')).toBe('203.0.113.7');
    expect(addressScope('::ffff:203.0.113.7')).toBe('203.0.113.7');
  });

  it('counts an IPv6 address as its /64', () => {
    expect(addressScope('2001:db8:1:2::1')).toBe('2001:db8:1:2::/64');
    expect(addressScope('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(addressScope('2001:db8:1:3::1')).not.toBe(addressScope('2001:db8:1:2::1'));
  });

  it('leaves what is not an address as it is', () => {
    expect(addressScope('unknown')).toBe('unknown');
  });
});

describe('requestScope', () => {
  it('counts an IPv6 client by its /64 and an IPv4 one whole', () => {
    expect(requestScope({ ip: '2001:DB8:5:6:ffff:ffff:ffff:ffff' })).toBe('2001:db8:5:6::/64');
    expect(requestScope({ ip: '::ffff:203.0.113.7' })).toBe('203.0.113.7');
  });

  it('falls back to the socket address, then to one shared bucket', () => {
    expect(requestScope({ socket: { remoteAddress: '203.0.113.9' } })).toBe('203.0.113.9');
    expect(requestScope({})).toBe('unknown');
  });
});
