import { bodyWithSeq, initialSeq, judgeRead } from './event-log';
import { MemoryEventLog } from './memory-event-log';

const body = (n: number) => Buffer.from(JSON.stringify({ event: 'message:new', payload: { n } }));
const parse = (b: Buffer) => JSON.parse(b.toString());

describe('MemoryEventLog', () => {
  let now: number;
  let log: MemoryEventLog;
  const limits = { maxEvents: 5, maxAgeMs: 60_000 };
  beforeEach(() => {
    now = 1_790_000_000_000;
    log = new MemoryEventLog(limits, () => now);
  });
  afterEach(() => log.onApplicationShutdown());

  it('starts a counter at the current time in microseconds and allocates consecutive seqs per user', async () => {
    expect(await log.position('a')).toBe(initialSeq(now));
    const [[a1, b1], [a2]] = await log.append([{ userIds: ['a', 'b'], body: body(1) }, { userIds: ['a'], body: body(2) }]);
    expect(a1).toBe(now * 1000 + 1);
    expect(a2).toBe(now * 1000 + 2);
    expect(b1).toBe(now * 1000 + 1);
    expect(await log.position('a')).toBe(now * 1000 + 2);
    expect(Number.isSafeInteger(a2)).toBe(true);
  });

  it('reads the events after a position in order, page by page, only up to upTo when given', async () => {
    const start = await log.position('a');
    for (let n = 1; n <= 4; n++) await log.append([{ userIds: ['a'], body: body(n) }]);
    const page = await log.read('a', start, 2);
    expect(page).toMatchObject({ kind: 'events', hasMore: true, position: start + 4 });
    if (page.kind !== 'events') throw new Error();
    expect(page.events.map((e) => [e.seq, parse(e.body).payload.n])).toEqual([[start + 1, 1], [start + 2, 2]]);
    const rest = await log.read('a', start + 2, 10);
    expect(rest.kind === 'events' && rest.events.map((e) => e.seq)).toEqual([start + 3, start + 4]);
    expect(rest).toMatchObject({ hasMore: false });
    const upTo = await log.read('a', start, 10, start + 3);
    expect(upTo.kind === 'events' && upTo.events.map((e) => e.seq)).toEqual([start + 1, start + 2, start + 3]);
    expect(await log.read('a', start + 4, 10)).toEqual({ kind: 'events', events: [], hasMore: false, position: start + 4 });
  });

  it('keeps the newest maxEvents: a position before them resyncs, the one just before the oldest kept does not', async () => {
    const start = await log.position('a');
    for (let n = 1; n <= 8; n++) await log.append([{ userIds: ['a'], body: body(n) }]);
    expect(await log.read('a', start + 2, 10)).toEqual({ kind: 'resync', position: start + 8 });
    const kept = await log.read('a', start + 3, 10);
    expect(kept.kind === 'events' && kept.events.map((e) => parse(e.body).payload.n)).toEqual([4, 5, 6, 7, 8]);
  });

  it('treats events older than maxAge as trimmed, and forgets a log untouched for maxAge (the counter restarts above it)', async () => {
    const start = await log.position('a');
    await log.append([{ userIds: ['a'], body: body(1) }]);
    now += 30_000;
    await log.append([{ userIds: ['a'], body: body(2) }]);
    now += 40_000;
    // The first is 70 s old: a position before it resyncs; the second is 40 s old and still there.
    expect(await log.read('a', start, 10)).toMatchObject({ kind: 'resync' });
    expect(await log.read('a', start + 1, 10)).toMatchObject({ kind: 'events', events: [{ seq: start + 2 }] });
    now += 60_001;
    const restarted = await log.position('a');
    expect(restarted).toBe(initialSeq(now));
    expect(restarted).toBeGreaterThan(start + 2);
    expect(await log.read('a', start + 2, 10)).toMatchObject({ kind: 'resync', position: restarted });
  });

  it('keeps small bodies in blocks of their own size, not the shared 8 KiB pool blocks they were sliced from, one per audience', async () => {
    const big = new MemoryEventLog({ maxEvents: 1000, maxAgeMs: 60_000 }, () => now);
    const pad = 'x'.repeat(400);
    for (let n = 0; n < 500; n++) {
      const body = Buffer.from(JSON.stringify({ event: 'message:new', payload: { n, pad } }));
      // What else a publish takes from the pool meanwhile (the frames written to sockets), dropped after.
      for (const recipient of [1, 2]) bodyWithSeq(body, recipient);
      await big.append([{ userIds: ['a', 'b'], body }]);
    }
    const [a, b] = [await big.read('a', initialSeq(now), 1000), await big.read('b', initialSeq(now), 1000)];
    big.onApplicationShutdown();
    if (a.kind !== 'events' || b.kind !== 'events') throw new Error();
    const bodies = a.events.reduce((sum, e) => sum + e.body.byteLength, 0);
    const blocks = new Set([...a.events, ...b.events].map((e) => e.body.buffer));
    const held = [...blocks].reduce((sum, block) => sum + block.byteLength, 0);
    expect(held / bodies).toBeLessThan(1.1);
    expect(blocks.size).toBe(500);
  });

  it("drops a user's log and counter, and only theirs: a position of it then reads as older than the log", async () => {
    const start = await log.position('a');
    await log.append([{ userIds: ['a', 'b'], body: body(1) }]);
    await log.drop('a');
    now += 1;
    expect(await log.read('a', start, 10)).toMatchObject({ kind: 'resync', position: initialSeq(now) });
    expect(await log.read('b', start, 10)).toMatchObject({ kind: 'events', events: [{ seq: start + 1 }] });
  });

  it('answers future for a position above the latest seq, and reads only the asked user', async () => {
    const b = await log.position('b');
    await log.append([{ userIds: ['b'], body: body(1) }]);
    // A user whose counter started later: its positions are above b's.
    now += 1;
    const a = await log.position('a');
    await log.append([{ userIds: ['a'], body: body(2) }]);
    expect(await log.read('b', a + 1, 10)).toEqual({ kind: 'future', position: b + 1 });
    const own = await log.read('a', a, 10);
    expect(own.kind === 'events' && own.events.map((e) => parse(e.body).payload.n)).toEqual([2]);
  });
});

describe('judgeRead', () => {
  const limits = { maxEvents: 100, maxAgeMs: 1000 };
  const entry = (seq: number, at = 1000, gap = false) => ({ seq, at, body: gap ? null : body(seq) });

  it('resyncs over a gap entry or a missing seq instead of replaying around it', () => {
    expect(judgeRead(10, 10, undefined, 13, [entry(11), entry(12, 1000, true), entry(13)], limits, 1500).kind).toBe('resync');
    expect(judgeRead(10, 10, undefined, 13, [entry(11), entry(13)], limits, 1500).kind).toBe('resync');
    expect(judgeRead(10, 10, undefined, 13, [entry(11), entry(12)], limits, 1500).kind).toBe('resync');
    expect(judgeRead(10, 10, undefined, 13, [entry(11), entry(12), entry(13)], limits, 1500).kind).toBe('events');
  });
});

describe('bodyWithSeq', () => {
  it('adds seq as the last key of the frame without re-serialising the rest', () => {
    const frame = Buffer.from(JSON.stringify({ event: 'message:new', payload: { text: 'é}' } }));
    expect(JSON.parse(bodyWithSeq(frame, 1_790_000_000_000_001).toString())).toEqual({ event: 'message:new', payload: { text: 'é}' }, seq: 1_790_000_000_000_001 });
  });
});
