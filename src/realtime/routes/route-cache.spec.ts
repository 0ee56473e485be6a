import { RouteCache } from './route-cache';

describe('RouteCache', () => {
  let now: number;
  let cache: RouteCache;
  beforeEach(() => {
    now = 1_000;
    cache = new RouteCache(3_000, () => now);
  });

  it('answers a read for its ttl, and asks for a refresh after half of it', () => {
    expect(cache.get('u')).toBeUndefined();
    expect(cache.wantsRead('u')).toBe(true);
    cache.set('u', ['i1', 'i2'], now);
    expect(cache.get('u')).toEqual(['i1', 'i2']);
    expect(cache.wantsRead('u')).toBe(false);
    now += 1_500;
    expect(cache.wantsRead('u')).toBe(true);
    expect(cache.get('u')).toEqual(['i1', 'i2']);
    now += 1_500;
    expect(cache.get('u')).toBeUndefined();
  });

  it('counts an entry’s age from when its read started', () => {
    const startedAt = now;
    now += 2_999;
    cache.set('u', ['i1'], startedAt);
    expect(cache.get('u')).toEqual(['i1']);
    now += 1;
    expect(cache.get('u')).toBeUndefined();
  });

  it('forgets a user on invalidation, and does not keep a read that started before it', () => {
    cache.set('u', ['i1'], now);
    const startedAt = now;
    now += 10;
    cache.invalidate('u');
    expect(cache.get('u')).toBeUndefined();
    // A read that was under way when the user arrived elsewhere may not have seen the arrival.
    cache.set('u', ['i1'], startedAt);
    expect(cache.get('u')).toBeUndefined();
    now += 1;
    cache.set('u', ['i1', 'i2'], now);
    expect(cache.get('u')).toEqual(['i1', 'i2']);
    // Other users are not touched.
    cache.set('v', ['i3'], startedAt);
    expect(cache.get('v')).toEqual(['i3']);
  });

  it('drops everything on clear, reads under way included', () => {
    const startedAt = now;
    cache.set('u', ['i1'], now);
    now += 5;
    cache.clear();
    expect(cache.get('u')).toBeUndefined();
    cache.set('v', ['i2'], startedAt);
    expect(cache.get('v')).toBeUndefined();
    now += 1;
    cache.set('v', ['i2'], now);
    expect(cache.get('v')).toEqual(['i2']);
  });

  it('prunes old invalidation marks though no read comes (a process that never publishes hears every arrival)', () => {
    for (let i = 0; i < 10_000; i++) {
      cache.invalidate(`u${i}`);
      now += 10;
    }
    // At most two ttls of marks: those of the last ttl, and those of the one before until the next prune.
    expect(cache.size).toBeLessThanOrEqual(600);
  });

  it('prunes expired entries as new ones come', () => {
    for (let i = 0; i < 100; i++) cache.set(`u${i}`, ['i1'], now);
    now += 3_000;
    cache.set('fresh', ['i1'], now);
    expect(cache.size).toBe(1);
  });
});
