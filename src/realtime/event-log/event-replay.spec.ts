import { Connection } from '../connection-registry';
import { EventReplay } from './event-replay';
import { MemoryEventLog } from './memory-event-log';

/** A log holding two events of user u, and a socket of u bound after both: the seqs it is sent, in order (undefined for a frame without one). */
async function twoEvents() {
  const log = new MemoryEventLog({ maxEvents: 100, maxAgeMs: 60_000 });
  const body = (n: number) => Buffer.from(JSON.stringify({ event: 'message:new', payload: { n } }));
  const [[one]] = await log.append([{ userIds: ['u'], body: body(1) }]);
  const [[two]] = await log.append([{ userIds: ['u'], body: body(2) }]);
  const received: Array<number | undefined> = [];
  const socket = { readyState: 1, OPEN: 1, bufferedAmount: 0, send: (data: Buffer | string) => received.push(JSON.parse(data.toString()).seq) };
  const connection: Connection = { id: 'c', socket: socket as never, userId: 'u', sessionId: 's', away: false, lastSeenAt: 0, position: two, held: null, replayedUpTo: 0, early: [], liveSeqs: null };
  return { log, one, two, received, connection };
}

describe('EventReplay', () => {
  it('reads the position at the resume when the log was unreachable at the bind, skipping what came live meanwhile', async () => {
    const log = new MemoryEventLog({ maxEvents: 100, maxAgeMs: 60_000 });
    const body = (n: number) => Buffer.from(JSON.stringify({ event: 'message:new', payload: { n } }));
    const append = async (n: number) => (await log.append([{ userIds: ['u'], body: body(n) }]))[0][0]!;
    const received: Array<{ seq: number; n: number }> = [];
    const socket = { readyState: 1, OPEN: 1, bufferedAmount: 0, send: (data: Buffer | string) => received.push({ seq: JSON.parse(data.toString()).seq, n: JSON.parse(data.toString()).payload.n }) };
    const [one, two, three] = [await append(1), await append(2), await append(3)];
    // Bound while the log did not answer (position null); the third event then reached it live.
    const connection: Connection = { id: 'c', socket: socket as never, userId: 'u', sessionId: 's', away: false, lastSeenAt: 0, position: null, held: null, replayedUpTo: 0, early: [three], liveSeqs: null };
    await new EventReplay(log).resume(connection, one);
    expect(received).toEqual([{ seq: two, n: 2 }]);
    expect(connection.position).toBe(three);
  });

  it('sends what a resume could not (the log did not answer) when it is asked again on the same socket', async () => {
    const { log, one, two, received, connection } = await twoEvents();
    const read = log.read.bind(log);
    const unanswered = jest.spyOn(log, 'read').mockResolvedValueOnce(null as never);
    const replay = new EventReplay(log);
    await replay.resume(connection, one! - 1);
    expect(received).toEqual([undefined]); // the error frame
    unanswered.mockImplementation(read);
    await replay.resume(connection, one! - 1);
    expect(received).toEqual([undefined, one, two]);
  });

  it('does not send again, at a later resume, a held frame that went out after a resume that failed', async () => {
    const { log, one, two, received, connection } = await twoEvents();
    const replay = new EventReplay(log);
    const read = log.read.bind(log);
    const unanswered = jest.spyOn(log, 'read').mockImplementationOnce(async () => {
      // A slow publisher's live copy of the second event arrives while the log is being read.
      connection.held!.push({ seq: two, payload: Buffer.from(JSON.stringify({ event: 'message:new', payload: { n: 2 }, seq: two })) });
      return null as never;
    });
    await replay.resume(connection, one! - 1);
    expect(received).toEqual([undefined, two]); // the error, then the held copy
    unanswered.mockImplementation(read);
    await replay.resume(connection, one! - 1);
    expect(received).toEqual([undefined, two, one]);
  });

  it('does not send twice a live copy held while a replay that succeeded read the log', async () => {
    const { log, one, two, received, connection } = await twoEvents();
    const read = log.read.bind(log);
    jest.spyOn(log, 'read').mockImplementationOnce(async (...args) => {
      // A slow publisher's live copy of the second event arrives while the log is being read.
      connection.held!.push({ seq: two, payload: Buffer.from(JSON.stringify({ event: 'message:new', payload: { n: 2 }, seq: two })) });
      return read(...args);
    });
    await new EventReplay(log).resume(connection, one! - 1);
    expect(received).toEqual([one, two]);
  });
});
