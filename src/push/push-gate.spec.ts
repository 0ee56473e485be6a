import { MemoryPushGate, PENDING_TTL_MS } from './push-gate';

describe('MemoryPushGate', () => {
  it('asks for one delivery per pending pair, and lets it go only when no message came in meanwhile', async () => {
    const gate = new MemoryPushGate();
    expect(await gate.claim('s', 'c')).toBe(true);
    expect(await gate.claim('s', 'c')).toBe(false);
    expect(await gate.claim('s', 'other')).toBe(true);
    const mark = await gate.mark('s', 'c');
    expect(await gate.claim('s', 'c')).toBe(false);
    expect(await gate.release('s', 'c', mark)).toBe(false);
    const next = await gate.mark('s', 'c');
    expect(await gate.release('s', 'c', next)).toBe(true);
    expect(await gate.claim('s', 'c')).toBe(true);
  });

  it('drops the claims no delivery released (one that failed for good) once they expire, though nobody asks for them again', async () => {
    jest.useFakeTimers();
    try {
      const gate = new MemoryPushGate();
      for (let i = 0; i < 1_000; i++) await gate.claim('s', `c${i}`);
      jest.advanceTimersByTime(PENDING_TTL_MS + 60_000);
      await gate.claim('s', 'new');
      expect(gate.pendingCount).toBe(1);
    } finally {
      jest.useRealTimers();
    }
  });

  it('forgets an abandoned pair', async () => {
    const gate = new MemoryPushGate();
    await gate.claim('s', 'c');
    await gate.abandon('s', 'c');
    expect(await gate.mark('s', 'c')).toBeNull();
    expect(await gate.claim('s', 'c')).toBe(true);
  });

  it('remembers the newest notified seq of a pair: a lower one changes nothing', async () => {
    const gate = new MemoryPushGate();
    expect(await gate.notified('s', 'c')).toBeNull();
    await gate.noteNotified('s', 'c', 5n);
    await gate.noteNotified('s', 'c', 3n);
    expect(await gate.notified('s', 'c')).toBe(5n);
    await gate.noteNotified('s', 'c', 12n);
    expect(await gate.notified('s', 'c')).toBe(12n);
    expect(await gate.notified('s', 'other')).toBeNull();
  });
});
