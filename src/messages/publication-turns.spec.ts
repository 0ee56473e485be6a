import { PUBLISH_TURN_MS, PublicationTurns } from './publication-turns';

/** Whether the promise has settled, after the pending callbacks have run. */
async function settled(promise: Promise<void>): Promise<boolean> {
  let done = false;
  void promise.then(() => (done = true));
  await jest.advanceTimersByTimeAsync(0);
  return done;
}

describe('PublicationTurns', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it("lets a chat's message go once the one before it is published; other chats do not wait", async () => {
    const turns = new PublicationTurns();
    const a1 = turns.take('A');
    const a2 = turns.take('A');
    const b1 = turns.take('B');
    expect(await settled(a1.previousPublished)).toBe(true);
    expect(await settled(b1.previousPublished)).toBe(true);
    expect(await settled(a2.previousPublished)).toBe(false);
    a1.published();
    expect(await settled(a2.previousPublished)).toBe(true);
    a2.published();
    // Every turn published: the next message of the chat waits for nothing.
    expect(await settled(turns.take('A').previousPublished)).toBe(true);
    expect(turns.pending).toBe(0);
  });

  it('gives up waiting after PUBLISH_TURN_MS, then stops looking at the clock', async () => {
    const turns = new PublicationTurns();
    turns.take('A');
    const a2 = turns.take('A');
    await jest.advanceTimersByTimeAsync(PUBLISH_TURN_MS - 100);
    expect(await settled(a2.previousPublished)).toBe(false);
    await jest.advanceTimersByTimeAsync(200);
    expect(await settled(a2.previousPublished)).toBe(true);
    expect(turns.pending).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });

  it("counts a stall of the process's event loop as one step, not as its length", async () => {
    const turns = new PublicationTurns();
    turns.take('A');
    const a2 = turns.take('A');
    // Five seconds pass with no timer run (a blocked loop), then one look.
    jest.setSystemTime(Date.now() + 5_000);
    await jest.advanceTimersByTimeAsync(60);
    expect(await settled(a2.previousPublished)).toBe(false);
    await jest.advanceTimersByTimeAsync(PUBLISH_TURN_MS);
    expect(await settled(a2.previousPublished)).toBe(true);
  });

  it('publishing a turn twice, or after its follower gave up, changes nothing', async () => {
    const turns = new PublicationTurns();
    const a1 = turns.take('A');
    const a2 = turns.take('A');
    await jest.advanceTimersByTimeAsync(PUBLISH_TURN_MS + 100);
    expect(await settled(a2.previousPublished)).toBe(true);
    a1.published();
    a1.published();
    const a3 = turns.take('A');
    expect(await settled(a3.previousPublished)).toBe(false);
    a2.published();
    expect(await settled(a3.previousPublished)).toBe(true);
  });
});
