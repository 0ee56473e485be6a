import { TokenBuckets } from './token-buckets';

describe('TokenBuckets', () => {
  let now = 0;
  const clock = () => now;
  beforeEach(() => (now = 1_000_000));

  it('allows a burst of `limit`, then refills evenly over the window', () => {
    const buckets = new TokenBuckets({ limit: 30, windowSeconds: 3 }, clock);
    for (let i = 0; i < 30; i++) expect(buckets.take('u')).toBe(0);
    expect(buckets.take('u')).toBe(100); // 10 per second: the next token in 100 ms
    now += 100;
    expect(buckets.take('u')).toBe(0);
    expect(buckets.take('u')).toBe(100);
    now += 1_000;
    for (let i = 0; i < 10; i++) expect(buckets.take('u')).toBe(0);
    expect(buckets.take('u')).toBeGreaterThan(0);
  });

  it('takes nothing from a refused frame', () => {
    const buckets = new TokenBuckets({ limit: 1, windowSeconds: 10 }, clock);
    buckets.take('u');
    for (let i = 0; i < 5; i++) expect(buckets.take('u')).toBe(10_000);
    now += 10_000;
    expect(buckets.take('u')).toBe(0);
  });

  it('keeps one bucket per key and never fills beyond the burst', () => {
    const buckets = new TokenBuckets({ limit: 2, windowSeconds: 1 }, clock);
    expect([buckets.take('a'), buckets.take('a'), buckets.take('a')]).toEqual([0, 0, 500]);
    expect(buckets.take('b')).toBe(0);
    now += 60_000;
    expect([buckets.take('a'), buckets.take('a'), buckets.take('a')]).toEqual([0, 0, 500]);
  });

  it('forgets buckets once they are full again', () => {
    const buckets = new TokenBuckets({ limit: 2, windowSeconds: 1 }, clock);
    buckets.take('a');
    buckets.take('b');
    buckets.take('b');
    now += 500;
    buckets.prune();
    expect(buckets.size).toBe(1); // b is still refilling
    now += 500;
    buckets.prune();
    expect(buckets.size).toBe(0);
  });

  it('refills on a clock the wall clock stepping back does not move (NTP)', () => {
    jest.useFakeTimers();
    try {
      const buckets = new TokenBuckets({ limit: 2, windowSeconds: 2 });
      expect([buckets.take('a'), buckets.take('a'), buckets.take('a')]).toEqual([0, 0, 1000]);
      jest.setSystemTime(Date.now() - 600_000);
      jest.advanceTimersByTime(1000);
      expect(buckets.take('a')).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });
});
