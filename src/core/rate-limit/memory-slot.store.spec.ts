import { MemorySlotStore } from './memory-slot.store';

describe('MemorySlotStore', () => {
  let now = 0;
  let store: MemorySlotStore;
  beforeEach(() => {
    now = 1_000_000;
    store = new MemorySlotStore(() => now);
  });
  const lease = (holder: string, key = 'k') => ({ key, holder });

  it('grants at most `limit` holders per key, and renews a holder that asks again', async () => {
    expect(await store.acquire(lease('a'), 2, 60_000)).toBe(true);
    expect(await store.acquire(lease('b'), 2, 60_000)).toBe(true);
    expect(await store.acquire(lease('c'), 2, 60_000)).toBe(false);
    expect(await store.acquire(lease('a'), 2, 60_000)).toBe(true);
    expect(await store.acquire(lease('c', 'other'), 2, 60_000)).toBe(true);
  });

  it('gives a released place back', async () => {
    await store.acquire(lease('a'), 1, 60_000);
    await store.release(lease('a'));
    expect(await store.acquire(lease('b'), 1, 60_000)).toBe(true);
  });

  it('lets a lease lapse unless it is renewed', async () => {
    await store.acquire(lease('a'), 1, 60_000);
    await store.acquire(lease('b', 'renewed'), 1, 60_000);
    now += 40_000;
    await store.renew([lease('b', 'renewed')], 60_000);
    now += 30_000;
    expect(await store.acquire(lease('c'), 1, 60_000)).toBe(true);
    expect(await store.acquire(lease('c', 'renewed'), 1, 60_000)).toBe(false);
  });
});
