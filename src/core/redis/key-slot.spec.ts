import { groupBySlot, keySlot } from './key-slot';

describe('keySlot', () => {
  it('gives the slots Redis gives (CLUSTER KEYSLOT)', () => {
    // Values from `redis-cli cluster keyslot <key>` on Redis 7.
    expect(keySlot('foo')).toBe(12182);
    expect(keySlot('123456789')).toBe(12739);
    expect(keySlot('{user1000}.following')).toBe(keySlot('user1000'));
  });

  it('hashes only a non-empty hash tag', () => {
    expect(keySlot('h2v:presence:{p3}:a')).toBe(keySlot('h2v:presence-lapses:{p3}'));
    expect(keySlot('foo{}{bar}')).toBe(keySlot('foo{}{bar}'));
    expect(keySlot('foo{}{bar}')).not.toBe(keySlot('bar'));
  });

  it('groups keys by slot, or all together on one server', () => {
    const keys = ['{a}1', '{b}1', '{a}2'];
    expect(groupBySlot(keys, (k) => k, true)).toEqual([['{a}1', '{a}2'], ['{b}1']]);
    expect(groupBySlot(keys, (k) => k, false)).toEqual([keys]);
    expect(groupBySlot([], (k: string) => k, false)).toEqual([]);
  });
});
