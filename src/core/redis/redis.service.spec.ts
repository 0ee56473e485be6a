import type Redis from 'ioredis';
import { AppConfig } from '../config/app-config';
import { RedisService } from './redis.service';

/** A command connection whose status and answers the test sets. */
class FakeClient {
  status = 'ready';
  pong: ((answer: string) => void) | null = null;
  ping = jest.fn(() => new Promise<string>((resolve) => (this.pong = resolve)));
}

class TestRedisService extends RedisService {
  constructor(private readonly fake: FakeClient) {
    super({ usesRedis: true, values: { redisUrl: 'redis://127.0.0.1:1', redisPrefix: 't' } } as unknown as AppConfig);
  }

  override connect(): Redis {
    return this.fake as unknown as Redis;
  }
}

const never = () => new Promise<string>(() => undefined);
const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('RedisService.bounded', () => {
  let fake: FakeClient;
  let redis: TestRedisService;
  beforeEach(() => {
    fake = new FakeClient();
    redis = new TestRedisService(fake);
  });
  afterEach(() => redis.onApplicationShutdown());

  it('answers the command when Redis answers in time', async () => {
    expect(await redis.bounded('t', async () => 'value', 'fallback', 50)).toBe('value');
  });

  it('takes the fallback at once while the connection is down, without sending the command', async () => {
    fake.status = 'reconnecting';
    const work = jest.fn(async () => 'value');
    expect(await redis.bounded('t', work, 'fallback', 50)).toBe('fallback');
    expect(work).not.toHaveBeenCalled();
  });

  it('takes the fallback when the command fails', async () => {
    expect(await redis.bounded('t', async () => Promise.reject(new Error('READONLY')), 'fallback', 50)).toBe('fallback');
  });

  it('after three unanswered commands in a row degrades at once until a probe PING is answered (a partition)', async () => {
    for (let i = 0; i < 3; i++) expect(await redis.bounded('t', never, 'fallback', 20)).toBe('fallback');
    const work = jest.fn(async () => 'value');
    expect(await redis.bounded('t', work, 'fallback', 20)).toBe('fallback');
    expect(work).not.toHaveBeenCalled();
    expect(fake.ping).toHaveBeenCalledTimes(1);
    fake.pong!('PONG');
    await flush();
    expect(await redis.bounded('t', work, 'fallback', 20)).toBe('value');
  });

  it('does not trip on one late answer (this process\'s event loop may have stalled)', async () => {
    expect(await redis.bounded('t', never, 'fallback', 20)).toBe('fallback');
    expect(await redis.bounded('t', async () => 'value', 'fallback', 20)).toBe('value');
    expect(fake.ping).not.toHaveBeenCalled();
  });
});
