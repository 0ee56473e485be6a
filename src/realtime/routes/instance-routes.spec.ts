import { Metrics } from '../../core/metrics/metrics';
import { Connection, ConnectionRegistry, MAX_EARLY } from '../connection-registry';
import { EventReplay } from '../event-log/event-replay';
import { MemoryEventLog } from '../event-log/memory-event-log';
import { LiveSeqs } from '../live-seqs';
import { InstanceRoutes } from './instance-routes';
import { RouteTable } from './route-table';

const SETTLE_MS = 40;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function setup() {
  const calls: string[] = [];
  let release: () => void = () => undefined;
  const state = { slowLeave: false, unansweredJoins: 0 };
  const table = {
    join: async (userId: string) => {
      calls.push(`join ${userId}`);
      return state.unansweredJoins-- <= 0;
    },
    leave: async (userId: string) => {
      if (state.slowLeave) await new Promise<void>((resolve) => (release = resolve));
      calls.push(`leave ${userId}`);
    },
    renew: async (userIds: Iterable<string>) => void calls.push(`renew ${[...userIds].join(',')}`),
  } as unknown as RouteTable;
  const registry = new ConnectionRegistry(new Metrics());
  const log = new MemoryEventLog({ maxEvents: 100, maxAgeMs: 60_000 });
  const replay = new EventReplay(log);
  const routes = new InstanceRoutes(table, registry, log, replay, SETTLE_MS, (userId) => calls.push(`announce ${userId}`));
  let n = 0;
  const connect = async (userId: string) => {
    const received: string[] = [];
    const closes: number[] = [];
    const socket = { readyState: 1, OPEN: 1, extensions: '', bufferedAmount: 0, send: (data: Buffer | string) => received.push(data.toString()), close: (code: number) => closes.push(code) };
    const connection: Connection = { id: `c${++n}`, socket: socket as never, userId: null, sessionId: null, away: false, lastSeenAt: 0, position: null, held: null, replayedUpTo: 0, early: [], liveSeqs: null };
    registry.add(connection);
    registry.bind(connection, userId, 's');
    await routes.attach(connection);
    connection.position = await log.position(userId);
    const close = () => {
      socket.readyState = 3;
      registry.remove(connection);
      routes.detach(connection);
    };
    return { connection, received, close, closes, seqs: () => received.map((r) => JSON.parse(r).seq as number) };
  };
  const append = async (userId: string, n: number) => (await log.append([{ userIds: [userId], body: Buffer.from(JSON.stringify({ event: 'message:new', payload: { n } })) }]))[0][0]!;
  const reads = { count: 0 };
  const read = log.read.bind(log);
  log.read = (...args: Parameters<MemoryEventLog['read']>) => {
    reads.count++;
    return read(...args);
  };
  return { calls, routes, registry, replay, connect, append, state, reads, log, release: () => release() };
}

describe('InstanceRoutes', () => {
  it('writes and announces a user’s route once for all their sockets here, and removes it with the last one', async () => {
    const { calls, routes, connect } = setup();
    const [one, two] = await Promise.all([connect('u'), connect('u')]);
    expect(calls).toEqual(['join u', 'announce u']);
    expect(routes.has('u')).toBe(true);
    one.close();
    await sleep(0);
    expect(calls).toEqual(['join u', 'announce u']);
    two.close();
    await sleep(0);
    expect(calls).toEqual(['join u', 'announce u', 'leave u']);
    expect(routes.has('u')).toBe(false);
    routes.stop();
  });

  it('writes a route whose write went unanswered again, announces it once written, and closes the user’s sockets to resume', async () => {
    const { calls, routes, connect, state } = setup();
    state.unansweredJoins = 2;
    const socket = await connect('u');
    expect(calls).toEqual(['join u']);
    expect(socket.closes).toEqual([]);
    await sleep(2_300);
    expect(calls).toEqual(['join u', 'join u', 'join u', 'announce u']);
    expect(socket.closes).toEqual([1012]);
    routes.stop();
  });

  it('writes a user’s new route after the removal of their previous one is answered', async () => {
    const { calls, routes, connect, state, release } = setup();
    state.slowLeave = true;
    (await connect('u')).close();
    const again = connect('u');
    await sleep(5);
    expect(calls).toEqual(['join u', 'announce u']);
    release();
    await again;
    expect(calls).toEqual(['join u', 'announce u', 'leave u', 'join u', 'announce u']);
    routes.stop();
  });

  it('renews every route it holds', async () => {
    const { calls, routes, connect } = setup();
    await connect('u');
    await connect('v');
    await routes.renew();
    expect(calls).toContain('renew u,v');
    routes.stop();
  });

  it('catches a settling socket up at its settle check with the logged events that did not reach it live, once each', async () => {
    const { registry, connect, append, routes } = setup();
    const socket = await connect('u');
    const position = socket.connection.position!;
    expect(socket.connection.liveSeqs).toBeInstanceOf(LiveSeqs);
    // Three events for u after auth:ok's position; a stale route kept the last one from here.
    const seqs = [await append('u', 1), await append('u', 2), await append('u', 3)];
    const live = (n: number) => Buffer.from(JSON.stringify({ event: 'message:new', payload: { n } }));
    registry.deliver(['u'], live(1), [seqs[0]]);
    registry.deliver(['u'], live(2), [seqs[1]]);
    await sleep(0);
    expect(socket.seqs()).toEqual(seqs.slice(0, 2));
    await sleep(SETTLE_MS * 3);
    expect(seqs).toEqual([position + 1, position + 2, position + 3]);
    expect(socket.seqs()).toEqual(seqs);
    // A live copy of a caught-up event arriving late is not sent again.
    registry.deliver(['u'], live(3), [seqs[2]]);
    await sleep(0);
    expect(socket.seqs()).toHaveLength(3);
    routes.stop();
  });

  it('waits at the settle check for seqs still on their way, and replays from the first one that did not come', async () => {
    const { registry, connect, append, routes, log } = setup();
    const live = (n: number) => Buffer.from(JSON.stringify({ event: 'message:new', payload: { n } }));
    const afters: number[] = [];
    const read = log.read.bind(log);
    log.read = (userId, after, ...rest) => (afters.push(after), read(userId, after, ...rest));
    // u: five events, the fifth's frame arriving just after the check read the position (u's
    // second position read; the first is the connect's), whenever the check runs.
    const seqs: number[] = [];
    const position = log.position.bind(log);
    let uReads = 0;
    log.position = async (userId) => {
      const at = await position(userId);
      if (userId === 'u' && ++uReads === 2) setImmediate(() => registry.deliver(['u'], live(5), [seqs[4]]));
      return at;
    };
    const u = await connect('u');
    for (let n = 1; n <= 5; n++) seqs.push(await append('u', n));
    for (const [i, seq] of seqs.slice(0, 4).entries()) registry.deliver(['u'], live(i + 1), [seq]);
    // v: four events; the last two never come (a stale route), and no later one shows the gap.
    const v = await connect('v');
    const vSeqs = [];
    for (let n = 1; n <= 4; n++) vSeqs.push(await append('v', n));
    for (const i of [0, 1]) registry.deliver(['v'], live(i + 1), [vSeqs[i]]);
    await sleep(SETTLE_MS * 3);
    expect(uReads).toBe(2);
    expect(u.seqs()).toEqual(seqs);
    expect(v.seqs()).toEqual(vSeqs);
    expect(v.received.map((r) => JSON.parse(r).payload.n)).toEqual([1, 2, 3, 4]);
    // Only v's log was read, from its last seq before the missing ones.
    expect(afters).toEqual([vSeqs[1]]);
    routes.stop();
  });

  it('fills a gap as soon as a later seq shows it, holding that one and the next until the missing one is sent', async () => {
    const { registry, connect, append, routes, reads } = setup();
    const socket = await connect('u');
    const seqs = [await append('u', 1), await append('u', 2), await append('u', 3)];
    const live = (n: number) => Buffer.from(JSON.stringify({ event: 'message:new', payload: { n } }));
    // The first event went elsewhere (a stale route); the second and third arrive live.
    registry.deliver(['u'], live(2), [seqs[1]]);
    registry.deliver(['u'], live(3), [seqs[2]]);
    expect(socket.seqs()).toEqual([]);
    await sleep(5);
    expect(socket.seqs()).toEqual(seqs);
    expect(socket.received.map((r) => JSON.parse(r).payload.n)).toEqual([1, 2, 3]);
    // One log read per repair: the read that found the log clean is the replay's.
    expect(reads.count).toBe(1);
    // Still settling after the repair: a later gap is found again, nothing is sent twice.
    const more = [await append('u', 4), await append('u', 5)];
    registry.deliver(['u'], live(5), [more[1]]);
    registry.deliver(['u'], live(1), [seqs[0]]);
    await sleep(5);
    expect(socket.seqs()).toEqual([...seqs, ...more]);
    expect(reads.count).toBe(2);
    await sleep(SETTLE_MS * 3);
    expect(socket.seqs()).toEqual([...seqs, ...more]);
    routes.stop();
  });

  it('sends nothing twice when the settle check comes while a gap repair is still replaying', async () => {
    const { registry, connect, append, routes, log } = setup();
    const socket = await connect('u');
    const seqs = [await append('u', 1), await append('u', 2)];
    // The repair's read of the log takes longer than the rest of the settle time.
    const read = log.read.bind(log);
    log.read = async (...args: Parameters<MemoryEventLog['read']>) => (await sleep(SETTLE_MS * 1.5), read(...args));
    registry.deliver(['u'], Buffer.from(JSON.stringify({ event: 'message:new', payload: { n: 2 } })), [seqs[1]]);
    await sleep(SETTLE_MS * 8);
    expect(socket.seqs()).toEqual(seqs);
    routes.stop();
  });

  it('takes a client\'s resume asked during a gap repair after it: every seq once, in order', async () => {
    const { registry, replay, connect, append, routes, log } = setup();
    const socket = await connect('u');
    const start = socket.connection.position!;
    const seqs = [await append('u', 1), await append('u', 2), await append('u', 3)];
    // The repair's read of the log is slow; the client asks to resume from before it meanwhile.
    const read = log.read.bind(log);
    log.read = async (...args: Parameters<MemoryEventLog['read']>) => (await sleep(10), read(...args));
    registry.deliver(['u'], Buffer.from(JSON.stringify({ event: 'message:new', payload: { n: 3 } })), [seqs[2]]);
    const resumed = replay.resume(socket.connection, start);
    const later = await append('u', 4);
    registry.deliver(['u'], Buffer.from(JSON.stringify({ event: 'message:new', payload: { n: 4 } })), [later]);
    await resumed;
    await sleep(30);
    expect(socket.seqs()).toEqual([...seqs, later]);
    routes.stop();
  });

  it('sends a client\'s resume from before a settle catch-up\'s replay what came before it: nothing lost, nothing twice', async () => {
    const { connect, append, routes, replay } = setup();
    const older = [await append('u', 1), await append('u', 2)];
    const socket = await connect('u');
    // A stale route kept these from here: the settle check replays them.
    const newer = [await append('u', 3), await append('u', 4)];
    await sleep(SETTLE_MS * 3);
    expect(socket.seqs()).toEqual(newer);
    // The client (which lost the older two in its last connection) asks from before them.
    await replay.resume(socket.connection, older[0] - 1);
    expect(socket.seqs()).toEqual([...newer, ...older]);
    // Asked again: all of it was sent.
    await replay.resume(socket.connection, older[0] - 1);
    expect(socket.seqs()).toEqual([...newer, ...older]);
    routes.stop();
  });

  it('repairs a gap in the frames held during a resume before sending them, so the seqs stay in order', async () => {
    const { registry, replay, connect, append, routes, reads } = setup();
    const socket = await connect('u');
    const live = (n: number) => Buffer.from(JSON.stringify({ event: 'message:new', payload: { n } }));
    // A resume is reading the log (nothing to replay: it ends at the socket's position) while a
    // stale route keeps the first two events from here; the next two arrive live and are held.
    replay.hold(socket.connection);
    const seqs = [await append('u', 1), await append('u', 2), await append('u', 3), await append('u', 4)];
    registry.deliver(['u'], live(3), [seqs[2]]);
    registry.deliver(['u'], live(4), [seqs[3]]);
    expect(socket.seqs()).toEqual([]);
    await replay.resume(socket.connection, socket.connection.position!);
    await sleep(5);
    expect(socket.seqs()).toEqual(seqs);
    expect(socket.received.map((r) => JSON.parse(r).payload.n)).toEqual([1, 2, 3, 4]);
    expect(reads.count).toBe(1);
    await sleep(SETTLE_MS * 3);
    expect(socket.seqs()).toEqual(seqs);
    routes.stop();
  });

  it('leaves a gap to the settle check when the log does not read clean at once, sending the held frames as they are', async () => {
    const { registry, connect, append, routes, log } = setup();
    const socket = await connect('u');
    const seqs = [await append('u', 1), await append('u', 2)];
    const read = log.read.bind(log);
    let reads = 0;
    // The first read finds the log gapped (an append still landing elsewhere); later ones are clean.
    log.read = async (...args: Parameters<MemoryEventLog['read']>) => (++reads === 1 ? { kind: 'resync', position: seqs[1] } : read(...args));
    registry.deliver(['u'], Buffer.from(JSON.stringify({ event: 'message:new', payload: { n: 2 } })), [seqs[1]]);
    await sleep(5);
    expect(socket.received.map((r) => JSON.parse(r).event)).toEqual(['message:new']);
    expect(socket.seqs()).toEqual([seqs[1]]);
    await sleep(SETTLE_MS * 3);
    expect(socket.seqs().sort()).toEqual(seqs);
    routes.stop();
  });

  it('reads nothing from the log for a settling socket that got every event live', async () => {
    const { registry, connect, append, routes, reads } = setup();
    const socket = await connect('u');
    for (const n of [1, 2]) {
      const seq = await append('u', n);
      registry.deliver(['u'], Buffer.from(JSON.stringify({ event: 'message:new', payload: { n } })), [seq]);
    }
    await sleep(SETTLE_MS * 3);
    expect(socket.seqs()).toHaveLength(2);
    expect(reads.count).toBe(0);
    routes.stop();
  });

  it('does not settle a socket bound long after its user’s route here was made: a seq that did not come is not looked for', async () => {
    const { connect, routes, registry, append, reads } = setup();
    await connect('u');
    await sleep(SETTLE_MS * 2);
    const later = await connect('u');
    await append('u', 1);
    await sleep(SETTLE_MS * 3);
    expect(later.seqs()).toEqual([]);
    expect(reads.count).toBe(0);
    // Yet a later seq shows the gap, which is filled from the log.
    const next = await append('u', 2);
    registry.deliver(['u'], Buffer.from(JSON.stringify({ event: 'message:new', payload: { n: 2 } })), [next]);
    await sleep(5);
    expect(later.seqs()).toEqual([next - 1, next]);
    routes.stop();
  });

  it('keeps a settled socket’s seqs in order: an earlier seq whose copy is late (another instance’s) is sent first, from the log, and not again', async () => {
    const { registry, connect, append, routes, reads } = setup();
    const socket = await connect('u');
    await sleep(SETTLE_MS * 3);
    const seqs = [await append('u', 1), await append('u', 2)];
    const live = (n: number) => Buffer.from(JSON.stringify({ event: 'message:new', payload: { n } }));
    // This instance's copy of the second event is delivered before the bus brings the first.
    registry.deliver(['u'], live(2), [seqs[1]]);
    await sleep(5);
    registry.deliver(['u'], live(1), [seqs[0]]);
    await sleep(5);
    expect(socket.seqs()).toEqual(seqs);
    expect(socket.received.map((r) => JSON.parse(r).payload.n)).toEqual([1, 2]);
    expect(reads.count).toBe(1);
    // In order, the next ones go straight out.
    const more = [await append('u', 3), await append('u', 4)];
    for (const [i, seq] of more.entries()) registry.deliver(['u'], live(3 + i), [seq]);
    expect(socket.seqs()).toEqual([...seqs, ...more]);
    expect(reads.count).toBe(1);
    routes.stop();
  });

  it('repairs a gap on a socket that got many events since it connected, reading only from the first seq that did not come', async () => {
    const { registry, connect, append, routes, log } = setup();
    const socket = await connect('u');
    await sleep(SETTLE_MS * 3);
    const live = (n: number) => Buffer.from(JSON.stringify({ event: 'message:new', payload: { n } }));
    // More events than a repair reads at once (and than the log of this setup keeps), all in order.
    for (let n = 0; n < 600; n++) registry.deliver(['u'], live(n), [await append('u', n)]);
    const [missing, next] = [await append('u', 600), await append('u', 601)];
    const read = log.read.bind(log);
    const froms: number[] = [];
    log.read = (userId, after, ...rest) => (froms.push(after), read(userId, after, ...rest));
    registry.deliver(['u'], live(601), [next]);
    await sleep(5);
    expect(socket.seqs().slice(-2)).toEqual([missing, next]);
    expect(froms).toEqual([missing - 1]);
    // What the socket remembers of the repair stays small.
    expect(socket.connection.early.length).toBeLessThanOrEqual(MAX_EARLY);
    routes.stop();
  });

  it('lets be a gap the log cannot fill once no settle check is due: the frames go out, and later ones do not read the log again', async () => {
    const { registry, connect, append, routes, log, reads } = setup();
    const socket = await connect('u');
    await sleep(SETTLE_MS * 3);
    const seqs = [await append('u', 1), await append('u', 2), await append('u', 3)];
    // The missing event's append failed: the log answers a resync for the span holding it.
    log.read = async () => (reads.count++, { kind: 'resync', position: seqs[2] });
    const live = (n: number) => Buffer.from(JSON.stringify({ event: 'message:new', payload: { n } }));
    registry.deliver(['u'], live(2), [seqs[1]]);
    await sleep(5);
    registry.deliver(['u'], live(3), [seqs[2]]);
    await sleep(5);
    expect(socket.seqs()).toEqual(seqs.slice(1));
    expect(reads.count).toBe(1);
    routes.stop();
  });
});
