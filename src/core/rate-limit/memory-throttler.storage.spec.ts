import { MemoryThrottlerStorage } from './memory-throttler.storage';
import { RateLimiter } from './rate-limiter';

/** The embedded mode's counters count as the Redis script does: fixed windows from the first hit. */
describe('MemoryThrottlerStorage', () => {
  let clock = 0;
  const storage = new MemoryThrottlerStorage(() => clock);
  const limiter = new RateLimiter(storage);
  const hour = { limit: 3, windowSeconds: 3600 };
  afterAll(() => storage.onApplicationShutdown());

  it('refuses past the limit until the window that began with the first hit ends, then counts afresh', async () => {
    clock = 0;
    for (const at of [0, 1_000, 2_000]) {
      clock = at;
      expect(await limiter.hit('export', 'u1', hour)).toMatchObject({ allowed: true });
    }
    clock = 3_590_000;
    expect(await limiter.hit('export', 'u1', hour)).toEqual({ allowed: false, retryAfter: 10 });
    clock = 3_600_001;
    expect(await limiter.hit('export', 'u1', hour)).toMatchObject({ allowed: true });
    expect((await limiter.hit('export', 'u1', hour)).allowed).toBe(true);
    expect((await limiter.hit('export', 'u1', hour)).allowed).toBe(true);
    expect(await limiter.hit('export', 'u1', hour)).toEqual({ allowed: false, retryAfter: 3600 });
  });

  it('keeps each name and key apart', async () => {
    clock = 10_000_000;
    for (let i = 0; i < 3; i++) await limiter.hit('reports', 'u2', hour);
    expect((await limiter.hit('reports', 'u2', hour)).allowed).toBe(false);
    expect((await limiter.hit('reports', 'u3', hour)).allowed).toBe(true);
    expect((await limiter.hit('reactions', 'u2', hour)).allowed).toBe(true);
  });

  it('ends a window on a clock the wall clock stepping back does not move (NTP)', async () => {
    jest.useFakeTimers();
    const onItsOwn = new MemoryThrottlerStorage();
    try {
      const perSecond = new RateLimiter(onItsOwn);
      const twice = { limit: 2, windowSeconds: 2 };
      for (let i = 0; i < 2; i++) expect((await perSecond.hit('search', 'u', twice)).allowed).toBe(true);
      expect(await perSecond.hit('search', 'u', twice)).toEqual({ allowed: false, retryAfter: 2 });
      jest.setSystemTime(Date.now() - 600_000);
      jest.advanceTimersByTime(2001);
      expect((await perSecond.hit('search', 'u', twice)).allowed).toBe(true);
    } finally {
      onItsOwn.onApplicationShutdown();
      jest.useRealTimers();
    }
  });
});
