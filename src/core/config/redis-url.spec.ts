import { parseRedisUrl, redisUrlProblem } from './redis-url';

describe('parseRedisUrl', () => {
  it('reads one server into the fields every connection is made from (ioredis and the event log pipe alike)', () => {
    expect(parseRedisUrl('redis://127.0.0.1:6379')).toEqual({ kind: 'single', host: '127.0.0.1', port: 6379, db: 0, username: undefined, password: undefined, tls: false });
    expect(parseRedisUrl('rediss://:secret@cache.internal:6380/2')).toEqual({ kind: 'single', host: 'cache.internal', port: 6380, db: 2, username: '', password: 'secret', tls: true });
    expect(parseRedisUrl('redis://app:p%40ss@[::1]/')).toEqual({ kind: 'single', host: '::1', port: 6379, db: 0, username: 'app', password: 'p@ss', tls: false });
    // The scheme in capitals is TLS for both (ioredis read `REDISS://` as plain TCP from a URL).
    expect(parseRedisUrl('REDISS://cache:6380/15')).toMatchObject({ host: 'cache', db: 15, tls: true });
  });

  it('refuses options in a query, which ioredis would read and the event log pipe would not, saying how to write the URL', () => {
    for (const raw of ['redis://127.0.0.1:6379?db=5', 'redis://127.0.0.1:6379/?password=secret', 'rediss://cache:6380/2?username=app', 'redis://cache:6379/1#db=2']) {
      expect({ raw, parsed: parseRedisUrl(raw) }).toEqual({ raw, parsed: undefined });
      expect(redisUrlProblem(raw)).toMatch(/a \?query or #fragment.*write redis:\/\/\[user:password@\]host:port\/<db>/);
    }
    expect(redisUrlProblem('redis+cluster://10.0.0.5:7001,10.0.0.6:7001?password=x')).toMatch(/\?query or #fragment/);
  });

  it('refuses a path that is not a database number', () => {
    for (const raw of ['redis://127.0.0.1:6379/db5', 'redis://127.0.0.1:6379/5/', 'redis://127.0.0.1:6379/-1', 'redis://127.0.0.1:6379/5x', 'redis://127.0.0.1:6379/1.5']) {
      expect({ raw, parsed: parseRedisUrl(raw) }).toEqual({ raw, parsed: undefined });
      expect(redisUrlProblem(raw)).toMatch(/path that is not a database number: write redis:\/\//);
    }
    expect(redisUrlProblem('redis+cluster://127.0.0.1:7001/3')).toMatch(/database 0 only/);
    expect(redisUrlProblem('redis://127.0.0.1:6379/3')).toBeUndefined();
    expect(redisUrlProblem('http://127.0.0.1:6379')).toBeUndefined();
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
