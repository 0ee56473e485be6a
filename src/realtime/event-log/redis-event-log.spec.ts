import { AppConfig } from '../../core/config/app-config';
import { CommandPipe, RedisService } from '../../core/redis/redis.service';
import { TEST_REDIS_URL } from '../../../test/support/env';
import { RedisEventLog } from './redis-event-log';
import { LOG_SHARDS, shardOf } from './log-shards';

const body = (n: number | string) => Buffer.from(JSON.stringify({ event: 'message:new', payload: { n } }));
const payloadOf = (b: Buffer) => (JSON.parse(b.toString()) as { payload: { n: number | string } }).payload.n;

/** The Redis event log's scripts against a real Redis (the e2e suites cover the seam and the resume). */
(TEST_REDIS_URL ? describe : describe.skip)('RedisEventLog', () => {
  const prefix = `test_event_log_${process.pid}_${Date.now()}`;
  // An age limit of this run only: the scripts' text (and SHA) is new to the server, so the first
  // append must go through the pipe's own SCRIPT LOAD (as after a Redis restart).
  const limits = { maxEvents: 100, maxAgeMs: 60_000 + (process.pid % 997) * 1_000 + (Date.now() % 1_000) };
  let redis: RedisService;
  let log: RedisEventLog;
  beforeAll(async () => {
    redis = new RedisService({ usesRedis: true, values: { redisUrl: TEST_REDIS_URL, redisPrefix: prefix } } as unknown as AppConfig);
    await redis.onModuleInit();
    log = new RedisEventLog(redis, limits);
    await log.onModuleInit();
  });
  afterAll(async () => {
    log.onApplicationShutdown();
    const keys = await redis.client.keys(`${prefix}:*`);
    if (keys.length) await redis.client.unlink(...keys);
    await redis.onApplicationShutdown();
  });

  it("starts a new user's counter at Redis's clock when the instance's runs behind", async () => {
    const [seconds, micros] = await redis.client.time();
    const redisNow = Number(seconds) * 1_000_000 + Number(micros);
    const behind = jest.spyOn(Date, 'now').mockReturnValue(redisNow / 1000 - 3_600_000);
    try {
      expect(await log.position('counter-from-position')).toBeGreaterThanOrEqual(redisNow);
      const [[first]] = await log.append([{ userIds: ['counter-from-append'], body: body('first') }]);
      expect(first).toBeGreaterThan(redisNow);
    } finally {
      behind.mockRestore();
    }
  });

  it('gives each user consecutive seqs across shards, group members and single recipients alike, and replays them in order', async () => {
    const members = Array.from({ length: 150 }, (_, i) => `member-${i}`);
    expect(new Set(members.map((m) => shardOf(m))).size).toBeGreaterThan(LOG_SHARDS / 2);
    const starts = new Map<string, number>();
    for (const m of members.slice(0, 3)) starts.set(m, (await log.position(m))!);
    // Three appends coalesced into one batch: a group message, a direct one, another group message.
    const [[group1], [direct], [group2]] = await Promise.all([
      log.append([{ userIds: members, body: body('g1') }]),
      log.append([{ userIds: [members[1]], body: body('d') }]),
      log.append([{ userIds: members, body: body('g2') }]),
    ]);
    members.forEach((m, i) => {
      expect(group2[i]).toBe(group1[i]! + (i === 1 ? 2 : 1));
      if (starts.has(m)) expect(group1[i]).toBe(starts.get(m)! + 1);
    });
    expect(direct[0]).toBe(group1[1]! + 1);
    for (const i of [0, 1, 2, 77, 149]) {
      const m = members[i];
      const read = await log.read(m, group1[i]! - 1, 10);
      expect(read?.kind).toBe('events');
      if (read?.kind !== 'events') continue;
      expect(read.events.map((e) => payloadOf(e.body))).toEqual(i === 1 ? ['g1', 'd', 'g2'] : ['g1', 'g2']);
      expect(read.events.map((e) => e.seq)).toEqual(i === 1 ? [group1[i], direct[0], group2[i]] : [group1[i], group2[i]]);
      expect(read.position).toBe(group2[i]);
      expect(await log.position(m)).toBe(group2[i]);
    }
  });

  it('appends for an audience larger than one script call takes (several calls in one batch)', async () => {
    const crowd = Array.from({ length: 700 }, (_, i) => `crowd-${i}`);
    const [[first], [second]] = await Promise.all([log.append([{ userIds: crowd, body: body('c1') }]), log.append([{ userIds: crowd, body: body('c2') }])]);
    expect(first.every((seq) => typeof seq === 'number')).toBe(true);
    second.forEach((seq, i) => expect(seq).toBe(first[i]! + 1));
    for (const i of [0, 255, 256, 511, 699]) {
      const read = await log.read(crowd[i], first[i]! - 1, 10);
      expect(read?.kind === 'events' && read.events.map((e) => payloadOf(e.body))).toEqual(['c1', 'c2']);
    }
  });

  it('starts a log that does not exist at now in µs, from position() and from an append alike, with an expiry past the age limit', async () => {
    const before = Date.now() * 1000;
    const p = (await log.position('fresh-a'))!;
    expect(p).toBeGreaterThanOrEqual(before);
    expect(Number.isSafeInteger(p)).toBe(true);
    const [[a, b]] = await log.append([{ userIds: ['fresh-a', 'fresh-b'], body: body(1) }]);
    expect(a).toBe(p + 1);
    expect(b).toBeGreaterThan(before);
    expect(await log.read('fresh-a', p, 10)).toMatchObject({ kind: 'events', events: [{ seq: p + 1 }] });
    // A position before the start is older than the log: resync, never a replay of nothing.
    expect(await log.read('fresh-b', b! - 2, 10)).toMatchObject({ kind: 'resync' });
    expect(await log.read('fresh-b', b! + 1, 10)).toMatchObject({ kind: 'future' });
    const ttl = await redis.client.pttl(`${prefix}:{s:${shardOf('fresh-b')}}:log:fresh-b`);
    expect(ttl).toBeGreaterThan(limits.maxAgeMs);
    expect(ttl).toBeLessThanOrEqual(limits.maxAgeMs * 1.125 + 1);
  });

  it("drops a user's stream (log and counter), after the appends asked for before, and only theirs", async () => {
    const start = (await log.position('dropped'))!;
    const key = `${prefix}:{s:${shardOf('dropped')}}:log:dropped`;
    // An append on its way, slowly, when the drop is asked for: the DEL must not overtake it (it
    // would make the stream again).
    const pipe = (log as unknown as { pipe: CommandPipe }).pipe;
    const exec = pipe.exec.bind(pipe);
    const slow = jest.spyOn(pipe, 'exec').mockImplementation(async (...args) => (await new Promise((resolve) => setTimeout(resolve, 50)), exec(...args)));
    const appended = log.append([{ userIds: ['dropped', 'kept'], body: body(1) }]);
    try {
      await log.drop('dropped');
    } finally {
      slow.mockRestore();
    }
    const [[, kept]] = await appended;
    expect(await redis.client.exists(key)).toBe(0);
    expect(await log.read('kept', kept! - 1, 10)).toMatchObject({ kind: 'events', events: [{ seq: kept }] });
    expect(await log.read('dropped', start, 10)).toMatchObject({ kind: 'resync' });
  });

  it('keeps the counter when the log is trimmed by count, and resyncs a position older than what it keeps', async () => {
    const start = (await log.position('busy'))!;
    for (let n = 0; n < 3; n++) await log.append(Array.from({ length: 80 }, (_, i) => ({ userIds: ['busy'], body: body(n * 80 + i) })));
    expect(await log.position('busy')).toBe(start + 240);
    expect(await log.read('busy', start, 10)).toMatchObject({ kind: 'resync' });
    const tail = await log.read('busy', start + 230, 100);
    expect(tail).toMatchObject({ kind: 'events', hasMore: false });
    if (tail?.kind === 'events') expect(tail.events.map((e) => payloadOf(e.body))).toEqual([230, 231, 232, 233, 234, 235, 236, 237, 238, 239]);
  });

  it("stores a user's events of one batch as one entry, and reads from inside it, up to a bound inside it and a page of it", async () => {
    const stream = `${prefix}:{s:${shardOf('runner')}}:log:runner`;
    const start = (await log.position('runner'))!;
    // One batch: five events for 'runner' (two shared with 'walker'), one for 'walker' alone.
    const [[[a]], [[b, w1]], [[c]], [[d, w2]], [[e]]] = await Promise.all([
      log.append([{ userIds: ['runner'], body: body('a') }]),
      log.append([{ userIds: ['runner', 'walker'], body: body('b') }]),
      log.append([{ userIds: ['runner'], body: body('c') }]),
      log.append([{ userIds: ['runner', 'walker'], body: body('d') }]),
      log.append([{ userIds: ['runner'], body: body('e') }]),
    ]);
    expect([a, b, c, d, e]).toEqual([start + 1, start + 2, start + 3, start + 4, start + 5]);
    expect(w2).toBe(w1! + 1);
    expect(await redis.client.xlen(stream)).toBe(1);
    expect(await log.position('runner')).toBe(start + 5);
    const seqsAndBodies = (read: Awaited<ReturnType<typeof log.read>>) => (read?.kind === 'events' ? read.events.map((ev) => [ev.seq, payloadOf(ev.body)]) : read?.kind);
    expect(seqsAndBodies(await log.read('runner', start + 2, 10))).toEqual([[start + 3, 'c'], [start + 4, 'd'], [start + 5, 'e']]);
    expect(seqsAndBodies(await log.read('runner', start + 1, 10, start + 3))).toEqual([[start + 2, 'b'], [start + 3, 'c']]);
    const page = await log.read('runner', start, 2);
    expect(page).toMatchObject({ kind: 'events', hasMore: true, position: start + 5 });
    expect(seqsAndBodies(page)).toEqual([[start + 1, 'a'], [start + 2, 'b']]);
    expect(seqsAndBodies(await log.read('walker', w1! - 1, 10))).toEqual([[w1, 'b'], [w2, 'd']]);
    // The next batch goes on from the end of the run.
    const [[f]] = await log.append([{ userIds: ['runner'], body: body('f') }]);
    expect(f).toBe(start + 6);
    expect(seqsAndBodies(await log.read('runner', start + 4, 10))).toEqual([[start + 5, 'e'], [start + 6, 'f']]);
  });

  it("reads the entries of the release before (one event per entry, in a field b, r or g) beside runs", async () => {
    const stream = `${prefix}:{s:${shardOf('old')}}:log:old`;
    const start = (await log.position('old'))!;
    const at = String(Date.now());
    const shared = `${prefix}:{ev:old-shared}`;
    await redis.client.set(shared, body('shared'), 'PX', 60_000);
    await redis.client.xadd(stream, `0-${start + 1}`, 't', at, 'b', body('inline'));
    await redis.client.xadd(stream, `0-${start + 2}`, 't', at, 'r', shared);
    const [[next]] = await log.append([{ userIds: ['old'], body: body('new') }]);
    expect(next).toBe(start + 3);
    const read = await log.read('old', start, 10);
    expect(read?.kind === 'events' && read.events.map((e) => [e.seq, payloadOf(e.body)])).toEqual([[start + 1, 'inline'], [start + 2, 'shared'], [start + 3, 'new']]);
    await redis.client.xadd(stream, `0-${start + 4}`, 't', at, 'g', '1');
    expect(await log.read('old', start, 10)).toMatchObject({ kind: 'resync' });
  });

  it('cuts a run before its value passes 4 KB (the position read returns whole entries), and reads it back whole', async () => {
    const stream = `${prefix}:{s:${shardOf('bulky')}}:log:bulky`;
    const start = (await log.position('bulky'))!;
    const big = (n: number) => Buffer.from(JSON.stringify({ event: 'message:new', payload: { n, text: 'y'.repeat(1_000) } }));
    await log.append(Array.from({ length: 10 }, (_, i) => ({ userIds: ['bulky'], body: big(i) })));
    const runs = (await redis.client.xrange(stream, '-', '+')) as Array<[string, string[]]>;
    expect(runs.map(([id]) => Number(id.slice(2)) - start)).toEqual([1, 4, 7, 10]);
    for (const [, fields] of runs) expect(Buffer.byteLength(fields[fields.indexOf('e') + 1])).toBeLessThanOrEqual(4_096);
    const read = await log.read('bulky', start, 20);
    expect(read?.kind === 'events' && read.events.map((e) => [e.seq - start, payloadOf(e.body)])).toEqual(Array.from({ length: 10 }, (_, i) => [i + 1, i]));
    expect(await log.position('bulky')).toBe(start + 10);
  });

  it('trims long runs by seq: the newest maxEvents are all kept, what is older goes', async () => {
    const stream = `${prefix}:{s:${shardOf('long')}}:log:long`;
    const start = (await log.position('long'))!;
    // Bodies of ~130 bytes: a run (cut at 4 KB) fills a stream node of its own, so a trim too
    // eager by one node shows.
    const padded = (n: number) => Buffer.from(JSON.stringify({ event: 'message:new', payload: { n, pad: 'x'.repeat(100) } }));
    for (let n = 0; n < 10; n++) await log.append(Array.from({ length: 80 }, (_, i) => ({ userIds: ['long'], body: padded(n * 80 + i) })));
    const counter = start + 800;
    expect(await log.position('long')).toBe(counter);
    // Thirty runs (each batch of 80 is cut by bytes into 31 + 31 + 18); those wholly before the
    // newest 100 seqs and a run's length go, but for what shares a stream node with the ones kept.
    expect(await redis.client.xlen(stream)).toBeLessThanOrEqual(9);
    const window = await log.read('long', counter - limits.maxEvents, 200);
    expect(window).toMatchObject({ kind: 'events', hasMore: false });
    if (window?.kind === 'events') expect(window.events.map((ev) => payloadOf(ev.body))).toEqual(Array.from({ length: 100 }, (_, i) => 700 + i));
    expect(await log.read('long', counter - limits.maxEvents - 1, 200)).toMatchObject({ kind: 'resync' });
  });

  it('waits for a shared body still on its way (a Redis Cluster writes it beside the entries), and reads one gone for good as a gap', async () => {
    const bodyKey = async (seq: number, userId: string) => {
      const [[, fields]] = (await redis.client.xrange(`${prefix}:{s:${shardOf(userId)}}:log:${userId}`, `0-${seq}`, `0-${seq}`)) as Array<[string, string[]]>;
      return fields[fields.indexOf('e') + 1].slice(1);
    };
    const start = (await log.position('late-a'))!;
    const [[seq]] = await log.append([{ userIds: ['late-a', 'late-b'], body: body('shared') }]);
    const key = await bodyKey(seq!, 'late-a');
    const stored = await redis.client.getBuffer(key);
    // Not there yet when the read starts; written 50 ms later, as a slower primary would.
    await redis.client.del(key);
    const written = new Promise((resolve) => setTimeout(() => void redis.client.set(key, stored!, 'PX', 60_000).then(resolve), 50));
    const read = await log.read('late-a', start, 10);
    await written;
    expect(read).toMatchObject({ kind: 'events', events: [{ seq }] });
    if (read?.kind === 'events') expect(payloadOf(read.events[0].body)).toBe('shared');
    // Gone for good: still a gap once its time on the way is over.
    await redis.client.del(key);
    expect(await log.read('late-a', start, 10)).toMatchObject({ kind: 'resync' });
  });
});
