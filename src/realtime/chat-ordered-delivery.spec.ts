import { ChatOrderedDelivery } from './chat-ordered-delivery';

describe('ChatOrderedDelivery', () => {
  let delivered: string[];
  let ordered: ChatOrderedDelivery;
  const at = (seq: number, chatId = 'c') => ({ chatId, seq });
  beforeEach(() => {
    jest.useFakeTimers();
    delivered = [];
    ordered = new ChatOrderedDelivery((event) => event.forEach(({ data }) => delivered.push(String(data))), 100);
  });
  afterEach(() => jest.useRealTimers());

  it('passes events without a position straight through', () => {
    ordered.push([{ userIds: ['u'], data: 'typing' }]);
    expect(delivered).toEqual(['typing']);
  });

  it('holds a message that overtook an earlier one until the earlier one arrives', () => {
    ordered.push([{ userIds: ['u'], data: 'm1' }], at(1));
    ordered.push([{ userIds: ['u'], data: 'm3' }], at(3));
    ordered.push([{ userIds: ['u'], data: 'm4' }], at(4));
    expect(delivered).toEqual(['m1']);
    ordered.push([{ userIds: ['u'], data: 'm2' }], at(2));
    expect(delivered).toEqual(['m1', 'm2', 'm3', 'm4']);
  });

  it('gives up on a gap after the hold time and delivers what waited, in order', () => {
    ordered.push([{ userIds: ['u'], data: 'm1' }], at(1));
    ordered.push([{ userIds: ['u'], data: 'm4' }], at(4));
    ordered.push([{ userIds: ['u'], data: 'm3' }], at(3));
    jest.advanceTimersByTime(99);
    expect(delivered).toEqual(['m1']);
    jest.advanceTimersByTime(1);
    expect(delivered).toEqual(['m1', 'm3', 'm4']);
    ordered.push([{ userIds: ['u'], data: 'm2 (late)' }], at(2));
    expect(delivered).toEqual(['m1', 'm3', 'm4', 'm2 (late)']);
  });

  it('gives up at once on every gap below a message that waited the hold time, not one gap per hold time', () => {
    // The bus is down: the other instance's messages (the even ones) never come.
    ordered.push([{ userIds: ['u'], data: 'm1' }], at(1));
    for (const seq of [3, 5, 7, 9]) ordered.push([{ userIds: ['u'], data: `m${seq}` }], at(seq));
    jest.advanceTimersByTime(50);
    ordered.push([{ userIds: ['u'], data: 'm11' }], at(11));
    jest.advanceTimersByTime(50);
    expect(delivered).toEqual(['m1', 'm3', 'm5', 'm7', 'm9']);
    jest.advanceTimersByTime(49);
    expect(delivered).toEqual(['m1', 'm3', 'm5', 'm7', 'm9']);
    jest.advanceTimersByTime(1);
    expect(delivered).toEqual(['m1', 'm3', 'm5', 'm7', 'm9', 'm11']);
  });

  it('keeps waiting for a gap while the earlier events keep coming, and gives up once they stop', () => {
    ordered.push([{ userIds: ['u'], data: 'm1' }], at(1));
    ordered.push([{ userIds: ['u'], data: 'm5' }], at(5));
    for (const seq of [2, 3, 4]) {
      jest.advanceTimersByTime(80);
      ordered.push([{ userIds: ['u'], data: `m${seq}` }], at(seq));
    }
    expect(delivered).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    ordered.push([{ userIds: ['u'], data: 'm7' }], at(7));
    jest.advanceTimersByTime(99);
    expect(delivered).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
    jest.advanceTimersByTime(1);
    expect(delivered).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm7']);
  });

  it('delivers the audiences of one position together, so a released later message never lands between them', () => {
    ordered.push([{ userIds: ['all'], data: 'm1' }], at(1));
    ordered.push([{ userIds: ['others'], data: 'm3' }, { userIds: ['sender'], data: 'm3 + clientMessageId' }], at(3));
    ordered.push([{ userIds: ['others'], data: 'm2' }, { userIds: ['sender'], data: 'm2 + clientMessageId' }], at(2));
    expect(delivered).toEqual(['m1', 'm2', 'm2 + clientMessageId', 'm3', 'm3 + clientMessageId']);
  });

  it('delivers every frame of one position (the sender\'s copy and the others\') and keeps chats apart', () => {
    ordered.push([{ userIds: ['others'], data: 'm1' }], at(1));
    ordered.push([{ userIds: ['sender'], data: 'm1 + clientMessageId' }], at(1));
    ordered.push([{ userIds: ['u'], data: 'x1' }], at(1, 'x'));
    ordered.push([{ userIds: ['u'], data: 'm3' }], at(3));
    ordered.push([{ userIds: ['u'], data: 'x2' }], at(2, 'x'));
    expect(delivered).toEqual(['m1', 'm1 + clientMessageId', 'x1', 'x2']);
  });

  it('waits for the message before the first one it sees of a chat, which may be on its way from another instance', () => {
    ordered.push([{ userIds: ['u'], data: 'm8' }], at(8));
    ordered.push([{ userIds: ['u'], data: 'm7' }], at(7));
    expect(delivered).toEqual(['m7', 'm8']);
    ordered.push([{ userIds: ['u'], data: 'y5' }], at(5, 'y'));
    expect(delivered).toEqual(['m7', 'm8']);
    jest.advanceTimersByTime(100);
    expect(delivered).toEqual(['m7', 'm8', 'y5']);
  });

  it('flushes what it holds on shutdown', () => {
    ordered.push([{ userIds: ['u'], data: 'm1' }], at(1));
    ordered.push([{ userIds: ['u'], data: 'm5' }], at(5));
    ordered.flush();
    expect(delivered).toEqual(['m1', 'm5']);
    expect(ordered.size).toBe(0);
  });

  it('releases what waited for an event that went by without being held (advance)', () => {
    ordered.push([{ userIds: ['u'], data: 'm1' }], at(1));
    ordered.push([{ userIds: ['u'], data: 'm3' }], at(3));
    expect(delivered).toEqual(['m1']);
    ordered.advance(at(2));
    expect(delivered).toEqual(['m1', 'm3']);
    // A chat first known through advance: its next event goes at once.
    ordered.advance(at(7, 'd'));
    ordered.push([{ userIds: ['u'], data: 'd8' }], at(8, 'd'));
    expect(delivered).toEqual(['m1', 'm3', 'd8']);
  });

  it('does not count a stall of its own event loop against the hold', async () => {
    jest.useRealTimers();
    ordered.push([{ userIds: ['u'], data: 'm2' }], at(2));
    // The loop is busy past the 100 ms hold; m1 is handled right after, as an answer read then would be.
    const until = Date.now() + 300;
    while (Date.now() < until);
    await new Promise((resolve) => setImmediate(resolve));
    ordered.push([{ userIds: ['u'], data: 'm1' }], at(1));
    expect(delivered).toEqual(['m1', 'm2']);
    ordered.flush();
  });
});
