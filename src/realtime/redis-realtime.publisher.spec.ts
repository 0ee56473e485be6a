import { EventEmitter } from 'node:events';
import { Metrics } from '../core/metrics/metrics';
import { RedisService } from '../core/redis/redis.service';
import { FrameData } from './chat-ordered-delivery';
import { Connection, ConnectionRegistry, DisconnectTarget } from './connection-registry';
import { EventReplay } from './event-log/event-replay';
import { MemoryEventLog } from './event-log/memory-event-log';
import { RedisRealtimePublisher } from './redis-realtime.publisher';

/**
 * Instances on a fake Redis: sharded channels (a message reaches the subscribers of its channel)
 * and the route table's sorted sets. `instance(users)` starts a publisher whose registry holds
 * sockets of `users` (routed to it, as the gateway's attach does).
 */
function bus() {
  const subscribers = new Map<string, EventEmitter[]>();
  const published: Array<{ channel: string; raw: Buffer }> = [];
  const zsets = new Map<string, Map<string, number>>();
  /** Route keys whose reads take a while. */
  const slowReads = new Set<string>();
  const client = {
    spublish: async (channel: string, raw: Buffer) => {
      published.push({ channel, raw });
      for (const subscriber of subscribers.get(channel) ?? []) subscriber.emit('smessageBuffer', Buffer.from(channel), raw);
      return 1;
    },
    // The route table's JOIN script: KEYS[1], ARGV = now, expiry, instance id, lease.
    evalsha: async (_sha: string, _n: number, key: string, _now: number, expiry: number, member: string) => {
      if (!zsets.has(key)) zsets.set(key, new Map());
      zsets.get(key)!.set(member, expiry);
      return 1;
    },
    zrem: async (key: string, member: string) => Number(zsets.get(key)?.delete(member) ?? 0),
    zrangebyscore: async (key: string, min: string) => {
      if (slowReads.has(key)) await new Promise((resolve) => setTimeout(resolve, 30));
      return [...(zsets.get(key) ?? new Map<string, number>())].filter(([, score]) => score > Number(min.slice(1))).map(([member]) => member);
    },
  };
  const redis = {
    key: (...parts: string[]) => ['test', ...parts].join(':'),
    subscriber: () => {
      const subscriber: EventEmitter = Object.assign(new EventEmitter(), {
        ssubscribe: async (channel: string) => {
          subscribers.set(channel, [...(subscribers.get(channel) ?? []), subscriber]);
          return 1;
        },
        status: 'ready',
        quit: async () => 'OK',
      });
      return subscriber;
    },
    bounded: async (_label: string, work: (c: typeof client) => Promise<unknown>) => work(client),
  } as unknown as RedisService;
  const started: RedisRealtimePublisher[] = [];
  const instance = async (users: string[] = []) => {
    const delivered: Array<{ userIds: string[]; text: string }> = [];
    const disconnected: DisconnectTarget[] = [];
    const here = new Set(users);
    const registry = {
      deliver: (userIds: string[], data: FrameData) => {
        const local = userIds.filter((u) => here.has(u));
        if (local.length) delivered.push({ userIds: local, text: data.toString() });
      },
      disconnect: (target: DisconnectTarget) => {
        disconnected.push(target);
        return (target.userIds ?? []).filter((id) => here.has(id)).length;
      },
      holdsAny: (userIds: string[]) => userIds.some((u) => here.has(u)),
      ofUser: (userId: string) => (here.has(userId) ? [{}] : []),
    } as unknown as ConnectionRegistry;
    const metrics = new Metrics();
    const log = new MemoryEventLog({ maxEvents: 100, maxAgeMs: 60_000 });
    const publisher = new RedisRealtimePublisher(redis, registry, metrics, log, new EventReplay(log));
    await publisher.onModuleInit();
    started.push(publisher);
    const attach = async (userId: string) => {
      here.add(userId);
      await publisher.attach({ userId, socket: { readyState: 1, OPEN: 1 }, position: null } as unknown as Connection);
    };
    for (const userId of users) await attach(userId);
    const counters = async () => ({
      received: (await metrics.busEventsReceived.get()).values[0]?.value ?? 0,
      delivered: (await metrics.busEventsDelivered.get()).values[0]?.value ?? 0,
    });
    return { publisher, delivered, disconnected, attach, counters, subscriber: (publisher as unknown as { subscriber: EventEmitter }).subscriber };
  };
  const inboxMessages = () => published.filter((p) => !p.channel.endsWith('{control}'));
  const shutdown = () => Promise.all(started.map((p) => p.onApplicationShutdown()));
  return { published, inboxMessages, instance, shutdown, slowReads };
}

const events = (delivered: Array<{ userIds: string[]; text: string }>) =>
  delivered.map(({ userIds, text }) => `${userIds.join('+')} ${JSON.parse(text).event} ${JSON.parse(text).payload.n}`);

describe('RedisRealtimePublisher', () => {
  let cluster: ReturnType<typeof bus>;
  beforeEach(() => (cluster = bus()));
  afterEach(() => cluster.shutdown());

  it('refuses to start on a Redis without sharded pub/sub (before 7.0), naming the reason', async () => {
    const redis = {
      key: (...parts: string[]) => ['test', ...parts].join(':'),
      subscriber: () =>
        Object.assign(new EventEmitter(), {
          ssubscribe: async () => {
            throw new Error("ERR unknown command 'ssubscribe', with args beginning with: 'test:bus:{control}'");
          },
          status: 'ready',
          quit: async () => 'OK',
        }),
    } as unknown as RedisService;
    const log = new MemoryEventLog({ maxEvents: 10, maxAgeMs: 60_000 });
    const publisher = new RedisRealtimePublisher(redis, {} as ConnectionRegistry, new Metrics(), log, new EventReplay(log));
    await expect(publisher.onModuleInit()).rejects.toThrow(/Redis 7\.0 or later.*unknown command 'ssubscribe'/);
  });

  it('publishes what one turn produced as one message to the instance holding its recipients, which delivers it record by record, in order', async () => {
    const { inboxMessages, published, instance } = cluster;
    const [one, two] = [await instance(['a', 'b', 'c']), await instance(['a', 'b', 'c'])];
    const message = (n: number) => ({ n }) as never;
    const sent = Promise.all([
      one.publisher.toAudiences('message:new', [{ userIds: ['b'], payload: message(1) }, { userIds: ['a'], payload: message(1) }], { chatId: 'c', seq: 1 }),
      one.publisher.toUsers(['a'], 'message:delivered', message(1), { chatId: 'c', seq: 1 }),
      one.publisher.disconnect({ sessionIds: ['s'] }, 4003, 'session terminated'),
      one.publisher.toUsers(['b', 'c'], 'message:new', message(2), { chatId: 'c', seq: 2 }),
    ]);
    // Delivered on the publishing instance once appended to the log, within this turn; one bus message carries the turn.
    await sent;
    expect(events(one.delivered)).toEqual(['b message:new 1', 'a message:new 1', 'a message:delivered 1', 'b+c message:new 2']);
    expect(inboxMessages()).toHaveLength(1);
    expect(events(two.delivered)).toEqual(['b message:new 1', 'a message:new 1', 'a message:delivered 1', 'b+c message:new 2']);
    // The disconnect goes to every instance, on the control channel.
    expect(published.filter((p) => p.channel.endsWith('{control}') && p.raw.includes('"disconnect"'))).toHaveLength(1);
    expect(two.disconnected).toEqual([{ sessionIds: ['s'] }]);
    // An instance skips its own bus messages.
    expect(one.delivered).toHaveLength(4);
  });

  it('sends an event only to the instances holding its recipients, once each', async () => {
    const { inboxMessages, instance } = cluster;
    const [one, two, three, four] = [await instance(['a']), await instance(['b']), await instance(['c', 'd']), await instance(['e'])];
    await one.publisher.toUsers(['b'], 'message:new', { n: 1 } as never, { chatId: 'c', seq: 1 });
    expect(events(two.delivered)).toEqual(['b message:new 1']);
    expect(three.delivered).toEqual([]);
    expect(await two.counters()).toEqual({ received: 1, delivered: 1 });
    expect(await three.counters()).toEqual({ received: 0, delivered: 0 });
    // A group with two recipients on three and one on two: one message to each, none to four.
    const before = inboxMessages().length;
    await one.publisher.toUsers(['a', 'b', 'c', 'd'], 'message:new', { n: 2 } as never, { chatId: 'g', seq: 1 });
    expect(inboxMessages().length - before).toBe(2);
    expect(events(three.delivered)).toEqual(['c+d message:new 2']);
    expect(await three.counters()).toEqual({ received: 1, delivered: 1 });
    expect(await four.counters()).toEqual({ received: 0, delivered: 0 });
    expect(four.delivered).toEqual([]);
  });

  it('counts each record another instance published as received, and as delivered when a recipient has a socket here', async () => {
    const { instance } = cluster;
    const [one, two] = [await instance(), await instance(['a', 'b'])];
    await Promise.all([
      one.publisher.toAudiences('message:new', [{ userIds: ['b'], payload: { n: 1 } as never }, { userIds: ['a'], payload: { n: 1 } as never }], { chatId: 'c', seq: 1 }),
      one.publisher.toUsers(['a'], 'message:delivered', { n: 1 } as never, { chatId: 'c', seq: 1 }),
      one.publisher.disconnect({ sessionIds: ['s'] }, 4003, 'session terminated'),
      one.publisher.disconnect({ userIds: ['b'] }, 4001, 'account deleted'),
    ]);
    expect(await two.counters()).toEqual({ received: 4, delivered: 3 });
    // Its own records are skipped.
    expect(await one.counters()).toEqual({ received: 0, delivered: 0 });
  });

  it('reaches an instance that got a user its cached routes did not have, once the arrival is announced', async () => {
    const { instance } = cluster;
    const [one, two, three] = [await instance(['a']), await instance(['b']), await instance()];
    await one.publisher.toUsers(['b'], 'message:new', { n: 1 } as never, { chatId: 'c', seq: 1 });
    await three.attach('b');
    // The route news went out on the control channel; the next turn reads the routes again.
    await new Promise((resolve) => setImmediate(resolve));
    await one.publisher.toUsers(['b'], 'message:new', { n: 2 } as never, { chatId: 'c', seq: 2 });
    expect(events(two.delivered)).toEqual(['b message:new 1', 'b message:new 2']);
    expect(events(three.delivered)).toEqual(['b message:new 2']);
  });

  it('puts nothing on the bus for recipients all held here, and reaches another instance as soon as one of them arrives there', async () => {
    const { inboxMessages, instance } = cluster;
    const [one, two] = [await instance(['a', 'b']), await instance()];
    await one.publisher.toUsers(['a', 'b'], 'message:new', { n: 1 } as never, { chatId: 'c', seq: 1 });
    await one.publisher.toUsers(['a', 'b'], 'message:new', { n: 2 } as never, { chatId: 'c', seq: 2 });
    expect(inboxMessages()).toEqual([]);
    await two.attach('b');
    await new Promise((resolve) => setImmediate(resolve));
    await one.publisher.toUsers(['a', 'b'], 'message:new', { n: 3 } as never, { chatId: 'c', seq: 3 });
    expect(inboxMessages()).toHaveLength(1);
    expect(events(two.delivered)).toEqual(['b message:new 3']);
  });

  it("carries to an instance only the audiences it holds a recipient of (a sender's own copy stays home)", async () => {
    const { inboxMessages, instance } = cluster;
    const [one, two] = [await instance(['a']), await instance(['b'])];
    await one.publisher.toAudiences('message:new', [{ userIds: ['b'], payload: { n: 1 } as never }, { userIds: ['a'], payload: { n: 1, own: true } as never }], { chatId: 'c', seq: 1 });
    expect(events(two.delivered)).toEqual(['b message:new 1']);
    expect(inboxMessages()).toHaveLength(1);
    expect(inboxMessages()[0].raw.toString()).not.toContain('"own":true');
    // A recipient of both audiences there: the whole record, in order.
    await two.attach('a');
    await new Promise((resolve) => setImmediate(resolve));
    await one.publisher.toAudiences('message:new', [{ userIds: ['b'], payload: { n: 2 } as never }, { userIds: ['a'], payload: { n: 2, own: true } as never }], { chatId: 'c', seq: 2 });
    expect(events(two.delivered)).toEqual(['b message:new 1', 'b message:new 2', 'a message:new 2']);
  });

  it('publishes each turn as a message of its own', async () => {
    const { inboxMessages, instance } = cluster;
    const [one, two] = [await instance(), await instance(['b'])];
    await one.publisher.toUsers(['b'], 'message:new', { n: 1 } as never, { chatId: 'c', seq: 1 });
    await one.publisher.toUsers(['b'], 'message:new', { n: 2 } as never, { chatId: 'c', seq: 2 });
    expect(inboxMessages()).toHaveLength(2);
    expect(events(two.delivered)).toEqual(['b message:new 1', 'b message:new 2']);
  });

  it('keeps the order of turns when the first one waits for a route read', async () => {
    const { instance, slowReads } = cluster;
    const [one, two] = [await instance(), await instance(['b', 'c'])];
    await one.publisher.toUsers(['c'], 'message:new', { n: 0 } as never, { chatId: 'y', seq: 1 });
    // 'b' is not cached and its read is slow; the next turn, for 'c' (cached), must not overtake it.
    slowReads.add('test:route:{b}');
    const first = one.publisher.toUsers(['b'], 'message:new', { n: 1 } as never, { chatId: 'x', seq: 1 });
    await new Promise((resolve) => setImmediate(resolve));
    const second = one.publisher.toUsers(['c'], 'message:new', { n: 2 } as never, { chatId: 'y', seq: 2 });
    await Promise.all([first, second]);
    expect(events(two.delivered)).toEqual(['c message:new 0', 'b message:new 1', 'c message:new 2']);
  });

  it('splits a turn that would make one huge bus message, keeping the order', async () => {
    const { inboxMessages, instance } = cluster;
    const [one, two] = [await instance(), await instance(['b'])];
    const big = 'x'.repeat(300_000);
    await Promise.all([1, 2, 3, 4, 5].map((n) => one.publisher.toUsers(['b'], 'message:new', { n, big } as never, { chatId: 'c', seq: n })));
    expect(inboxMessages().length).toBeGreaterThan(1);
    expect(inboxMessages().every(({ raw }) => raw.length < 1.3 * 1024 * 1024)).toBe(true);
    expect(events(two.delivered)).toEqual([1, 2, 3, 4, 5].map((n) => `b message:new ${n}`));
  });

  it('counts the headers too when it splits a turn: records to many recipients with small frames', async () => {
    const { inboxMessages, instance } = cluster;
    const members = Array.from({ length: 2_000 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
    const [one, two] = [await instance(), await instance(members)];
    // Each record's header names 2,000 users and their seqs (~110 KB); its frame is a few bytes.
    await Promise.all(Array.from({ length: 20 }, (_, n) => one.publisher.toUsers(members, 'message:new', { n } as never, { chatId: 'g', seq: n + 1 })));
    expect(inboxMessages().length).toBeGreaterThan(1);
    expect(inboxMessages().every(({ raw }) => raw.length < 1.3 * 1024 * 1024)).toBe(true);
    expect(two.delivered).toHaveLength(20);
  });

  it('delivers the well-formed records before a malformed one and drops the rest of that message', async () => {
    const two = await cluster.instance(['b']);
    const frame = Buffer.from(JSON.stringify({ event: 'message:new', payload: { n: 1 } }));
    const record = Buffer.concat([Buffer.from(JSON.stringify({ kind: 'deliver', audiences: [{ userIds: ['b'], bytes: frame.length }] })), Buffer.of(0x0a), frame]);
    const channel = Buffer.from('test:bus:{x}');
    two.subscriber.emit('smessageBuffer', channel, Buffer.concat([Buffer.from('other-instance|'), record, Buffer.from('{not json\n'), record]));
    // A record whose frames are cut short is not delivered.
    two.subscriber.emit('smessageBuffer', channel, Buffer.concat([Buffer.from('other-instance|'), record.subarray(0, record.length - 1)]));
    expect(events(two.delivered)).toEqual(['b message:new 1']);
  });
});
