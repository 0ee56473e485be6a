import { LiveSeqs } from './live-seqs';

/** The same answers as counting a plain set of the seqs, in any arrival order. */
function counted(seqs: Set<number>, from: number, to: number): boolean {
  if (to <= from) return true;
  let count = 0;
  for (const seq of seqs) if (seq > from && seq <= to) count++;
  return count === to - from;
}

describe('LiveSeqs', () => {
  it('answers whether a span is all there, in order and out of order', () => {
    const live = new LiveSeqs();
    for (const seq of [11, 12, 13, 15, 14, 18, 20, 19]) live.add(seq);
    expect(live.covers(10, 15)).toBe(true);
    expect(live.covers(10, 16)).toBe(false);
    expect(live.covers(9, 12)).toBe(false);
    expect(live.covers(17, 20)).toBe(true);
    expect(live.covers(16, 20)).toBe(false);
    expect(live.covers(20, 20)).toBe(true);
    expect([...live.within(12, 19)]).toEqual([13, 14, 15, 18, 19]);
    expect(live.coveredFrom(10)).toBe(15);
    expect(live.coveredFrom(13)).toBe(15);
    expect(live.coveredFrom(15)).toBe(15);
    expect(live.coveredFrom(16)).toBe(16);
    expect(live.coveredFrom(17)).toBe(20);
    live.add(17);
    live.add(16);
    expect(live.covers(10, 20)).toBe(true);
    expect([...live.within(0, 100)]).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
  });

  it('agrees with a counted set on random arrivals, duplicates included', () => {
    let state = 7;
    const random = (n: number) => ((state = (state * 1103515245 + 12345) % 2 ** 31) % n);
    for (let round = 0; round < 200; round++) {
      const live = new LiveSeqs();
      const set = new Set<number>();
      for (let i = 0; i < 40; i++) {
        const seq = 100 + random(30);
        live.add(seq);
        set.add(seq);
        const from = 95 + random(40);
        const to = from + random(10);
        expect(live.covers(from, to)).toBe(counted(set, from, to));
        let covered = from;
        while (set.has(covered + 1)) covered++;
        expect(live.coveredFrom(from)).toBe(covered);
      }
      expect([...live.within(0, 1_000)]).toEqual([...set].sort((a, b) => a - b));
    }
  });

  it('adds whole spans, merging those they touch or adjoin, in agreement with a counted set', () => {
    let state = 11;
    const random = (n: number) => ((state = (state * 1103515245 + 12345) % 2 ** 31) % n);
    for (let round = 0; round < 200; round++) {
      const live = new LiveSeqs();
      const set = new Set<number>();
      for (let i = 0; i < 12; i++) {
        const from = 100 + random(40);
        const to = from + random(6);
        if (random(3) === 0) {
          live.add(to);
          set.add(to);
        } else {
          live.addRange(from, to);
          for (let seq = from + 1; seq <= to; seq++) set.add(seq);
        }
        const a = 95 + random(50);
        const b = a + random(12);
        expect(live.covers(a, b)).toBe(counted(set, a, b));
      }
      expect([...live.within(0, 1_000)]).toEqual([...set].sort((a, b) => a - b));
    }
  });
});
