import { MemoryPushGate } from './push-gate';

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

  it('forgets an abandoned pair', async () => {
    const gate = new MemoryPushGate();
    await gate.claim('s', 'c');
    await gate.abandon('s', 'c');
    expect(await gate.mark('s', 'c')).toBeNull();
    expect(await gate.claim('s', 'c')).toBe(true);
  });
});
