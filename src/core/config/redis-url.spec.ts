import { parseRedisUrl } from './redis-url';

describe('parseRedisUrl', () => {
  it('reads one server as ioredis will', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379')).toEqual({ kind: 'single', url: 'redis://127.0.0.1:6379' });
    expect(parseRedisUrl('rediss://:secret@cache.internal:6380/2')).toEqual({ kind: 'single', url: 'rediss://:secret@cache.internal:6380/2' });
  });

  it('reads a cluster: its seed nodes, credentials and TLS', () => {
    expect(parseRedisUrl('redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003')).toEqual({
      kind: 'cluster',
      nodes: [
        { host: '127.0.0.1', port: 7001 },
        { host: '127.0.0.1', port: 7002 },
        { host: '127.0.0.1', port: 7003 },
      ],
      username: undefined,
      password: undefined,
      tls: false,
    });
    expect(parseRedisUrl('rediss+cluster://app:p%40ss@redis-a.internal:6379,[::1]:7000/')).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'redis-a.internal', port: 6379 },
        { host: '::1', port: 7000 },
      ],
      username: 'app',
      password: 'p@ss',
      tls: true,
    });
    expect(parseRedisUrl('redis+cluster://:secret@10.0.0.5:7001')).toMatchObject({ username: undefined, password: 'secret' });
  });

  it('refuses what is neither', () => {
    for (const raw of [
      'http://127.0.0.1:6379',
      'redis+cluster://',
      'redis+cluster://127.0.0.1',
      'redis+cluster://127.0.0.1:7001,',
      'redis+cluster://127.0.0.1:70000',
      'redis+cluster://127.0.0.1:7001/3',
      'redis+cluster://a b:7001',
      '127.0.0.1:6379',
      // A malformed %-escape in the user or password: the connection would throw a URIError.
      'redis://:Ab%9x@cache:6379',
      'rediss://us%er:secret@cache:6379',
      'redis+cluster://:Ab%9x@10.0.0.5:7001',
    ]) {
      expect({ raw, parsed: parseRedisUrl(raw) }).toEqual({ raw, parsed: undefined });
    }
  });
});
