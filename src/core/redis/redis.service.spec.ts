import Redis, { Cluster } from 'ioredis';
import { AppConfig } from '../config/app-config';
import { ConfigError } from '../config/env.schema';
import { RedisService } from './redis.service';
import { RespPipe, RespSetupRefused } from './resp-pipe';

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

describe('RedisService at start-up', () => {
  afterEach(() => jest.restoreAllMocks());

  it("fails when Redis refuses the setup of the event log's pipe (its SELECT), and goes on degraded when the pipe only cannot connect", async () => {
    const redis = new TestRedisService(new FakeClient());
    redis.pipe('event log');
    const ready = jest.spyOn(RespPipe.prototype, 'ready').mockRejectedValue(new RespSetupRefused('SELECT 3', new Error('ERR DB index is out of range')));
    const refusal = await redis.onApplicationBootstrap().then(() => null, (error: Error) => error);
    expect(refusal).toBeInstanceOf(ConfigError);
    expect(refusal!.message).toMatch(/REDIS_URL: Redis refused the event log's connection \(SELECT 3 refused: ERR DB index is out of range\)/);
    ready.mockRejectedValue(new Error('no answer within 1000 ms'));
    await expect(redis.onApplicationBootstrap()).resolves.toBeUndefined();
    await redis.onApplicationShutdown();
  });
});

const clusterNodes = process.env.REDIS_CLUSTER_TEST_NODES?.trim();

(clusterNodes ? describe : describe.skip)(`RedisService on a Redis Cluster${clusterNodes ? '' : ' (skipped: REDIS_CLUSTER_TEST_NODES is unset)'}`, () => {
  const config = () => {
    const url = `redis+cluster://${clusterNodes}`;
    return { usesRedis: true, values: { redisUrl: url, redisPrefix: `t_svc_${process.pid}` } } as unknown as AppConfig;
  };
  let redis: RedisService;
  beforeAll(async () => {
    redis = new RedisService(config());
    await redis.onModuleInit();
  }, 10_000);
  afterAll(() => redis.onApplicationShutdown());

  it('makes every connection a Cluster, with the per-connection options on every node (BullMQ reads them there)', () => {
    expect(redis.cluster).toBe(true);
    const worker = redis.connect('worker', { maxRetriesPerRequest: null, enableOfflineQueue: false }) as Cluster;
    expect(worker).toBeInstanceOf(Cluster);
    expect(worker.options).toMatchObject({ scaleReads: 'master', enableOfflineQueue: false, redisOptions: { connectionName: 'h2v:worker', maxRetriesPerRequest: null } });
  });

  it('gives a subscriber that receives sharded messages of every primary as well as classic ones', async () => {
    const subscriber = redis.subscriber('subscriber');
    const got: string[] = [];
    subscriber.on('smessageBuffer', (channel: Buffer, raw: Buffer) => got.push(`${channel}=${raw}`));
    subscriber.on('messageBuffer', (channel: Buffer, raw: Buffer) => got.push(`${channel}=${raw}`));
    const channels = ['{a}inbox', '{b}inbox', '{c}inbox'].map((c) => redis.key(c));
    await Promise.all([...channels.map((c) => subscriber.ssubscribe(c)), subscriber.subscribe(redis.key('all'))]);
    await Promise.all([...channels.map((c, i) => redis.client.spublish(c, String(i))), redis.client.publish(redis.key('all'), 'x')]);
    const expected = [...channels.map((c, i) => `${c}=${i}`), `${redis.key('all')}=x`].sort();
    for (let i = 0; i < 50 && got.length < expected.length; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(got.sort()).toEqual(expected);
  });

  it('runs bounded commands on keys of every primary', async () => {
    const keys = ['a', 'b', 'c', 'd', 'e', 'f'].map((k) => redis.key('svc', k));
    expect(await redis.bounded('t', (c) => Promise.all(keys.map((key) => c.set(key, key, 'PX', 5_000))), null)).toEqual(keys.map(() => 'OK'));
    expect(await redis.bounded('t', (c) => Promise.all(keys.map((key) => c.get(key))), null)).toEqual(keys);
  });
});
