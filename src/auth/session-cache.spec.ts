import { SessionCache } from './session-cache';

const session = (id: string, userId: string, expiresAt = 10_000_000) => ({ id, userId, lastActiveAt: 0, expiresAt });

describe('SessionCache', () => {
  it('answers a cached session until its time in the cache is up', () => {
    const cache = new SessionCache(5_000);
    cache.set('h1', session('s1', 'u1'), cache.generation, 1_000);
    expect(cache.get('h1', 5_999)).toEqual(session('s1', 'u1'));
    expect(cache.get('h1', 6_000)).toBeNull();
    expect(cache.size).toBe(0);
  });

  it('never answers a session past its own expiry', () => {
    const cache = new SessionCache(5_000);
    cache.set('h1', session('s1', 'u1', 2_000), cache.generation, 1_000);
    expect(cache.get('h1', 1_999)).not.toBeNull();
    expect(cache.get('h1', 2_000)).toBeNull();
  });

  it('forgets sessions by id and every session of a user', () => {
    const cache = new SessionCache();
    cache.set('h1', session('s1', 'u1'), cache.generation, 0);
    cache.set('h2', session('s2', 'u1'), cache.generation, 0);
    cache.set('h3', session('s3', 'u2'), cache.generation, 0);
    cache.set('h4', session('s4', 'u3'), cache.generation, 0);
    cache.forget({ sessionIds: ['s3'] });
    expect(cache.get('h3', 1)).toBeNull();
    cache.forget({ userIds: ['u1'] });
    expect([cache.get('h1', 1), cache.get('h2', 1)]).toEqual([null, null]);
    expect(cache.get('h4', 1)).toEqual(session('s4', 'u3'));
  });

  it('drops the oldest entry past its bound', () => {
    const cache = new SessionCache(5_000, 2);
    cache.set('h1', session('s1', 'u1'), cache.generation, 0);
    cache.set('h2', session('s2', 'u2'), cache.generation, 0);
    cache.set('h3', session('s3', 'u3'), cache.generation, 0);
    expect(cache.size).toBe(2);
    expect(cache.get('h1', 1)).toBeNull();
    expect(cache.get('h3', 1)).not.toBeNull();
  });

  it('keeps nothing from a lookup that a forget overtook: a session ended meanwhile is never remembered', () => {
    const cache = new SessionCache();
    const before = cache.generation;
    // The lookup reads the session while it is still live; then it is terminated (forgotten, nothing cached yet)...
    cache.forget({ sessionIds: ['s1'] });
    // ...and the lookup's answer arrives.
    cache.set('h1', session('s1', 'u1'), before, 0);
    expect(cache.get('h1', 1)).toBeNull();
    cache.set('h1', session('s1', 'u1'), cache.generation, 0);
    expect(cache.get('h1', 1)).not.toBeNull();
  });
});
