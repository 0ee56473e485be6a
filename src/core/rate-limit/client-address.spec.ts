import { clientAddress } from './client-address';

describe('clientAddress', () => {
  it('counts an IPv6 client by its /64', () => {
    expect(clientAddress({ ip: '2001:db8:5:6:aaaa::1' })).toBe('2001:db8:5:6::/64');
    expect(clientAddress({ ip: '2001:DB8:5:6:ffff:ffff:ffff:ffff' })).toBe('2001:db8:5:6::/64');
    expect(clientAddress({ ip: '2001:db8:5:7::1' })).toBe('2001:db8:5:7::/64');
  });

  it('keeps IPv4 addresses whole, also when written as IPv4-mapped IPv6', () => {
    expect(clientAddress({ ip: '203.0.113.7' })).toBe('203.0.113.7');
    expect(clientAddress({ ip: '::ffff:203.0.113.7' })).toBe('203.0.113.7');
  });

  it('falls back to the socket address, then to one shared bucket', () => {
    expect(clientAddress({ socket: { remoteAddress: '::1' } })).toBe('::1');
    expect(clientAddress({})).toBe('unknown');
  });
});
