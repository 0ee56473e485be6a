/**
 * The seqs a socket got live (Connection.liveSeqs, see InstanceRoutes). A user's seqs
 * are consecutive and nearly always arrive in order, so they are kept as sorted, disjoint,
 * non-adjacent ranges `[lo, hi]`, usually one: adding the next seq and asking whether a span is
 * all there cost the same however many seqs a busy socket got while it settles (a set of them,
 * counted on every delivery, cost a group's busy members milliseconds per message).
 */
export class LiveSeqs {
  private readonly lo: number[] = [];
  private readonly hi: number[] = [];

  add(seq: number): void {
    const last = this.hi.length - 1;
    if (last >= 0 && seq === this.hi[last] + 1) {
      this.hi[last] = seq;
      return;
    }
    if (last < 0 || seq > this.hi[last] + 1) {
      this.lo.push(seq);
      this.hi.push(seq);
      return;
    }
    // Out of order: the first range that reaches seq - 1.
    const i = this.firstReaching(seq - 1);
    if (seq >= this.lo[i] && seq <= this.hi[i]) return;
    if (seq === this.hi[i] + 1) {
      this.hi[i] = seq;
      if (i + 1 < this.lo.length && this.lo[i + 1] === seq + 1) {
        this.hi[i] = this.hi[i + 1];
        this.lo.splice(i + 1, 1);
        this.hi.splice(i + 1, 1);
      }
    } else if (seq === this.lo[i] - 1) this.lo[i] = seq;
    else {
      this.lo.splice(i, 0, seq);
      this.hi.splice(i, 0, seq);
    }
  }

  /** Adds every seq in (from, to]. */
  addRange(from: number, to: number): void {
    if (to <= from) return;
    let lo = from + 1;
    let hi = to;
    // The ranges it touches or adjoins merge into one.
    let i = this.firstReaching(lo - 1);
    let j = i;
    while (j < this.lo.length && this.lo[j] <= hi + 1) {
      lo = Math.min(lo, this.lo[j]);
      hi = Math.max(hi, this.hi[j]);
      j++;
    }
    this.lo.splice(i, j - i, lo);
    this.hi.splice(i, j - i, hi);
  }

  /** Whether every seq in (from, to] is here (none is needed when to <= from). */
  covers(from: number, to: number): boolean {
    if (to <= from) return true;
    const i = this.firstReaching(from + 1);
    return i < this.lo.length && this.lo[i] <= from + 1 && this.hi[i] >= to;
  }

  /** The highest seq h such that every seq in (from, h] is here (`from` itself when from + 1 is not). */
  coveredFrom(from: number): number {
    const i = this.firstReaching(from + 1);
    return i < this.lo.length && this.lo[i] <= from + 1 ? this.hi[i] : from;
  }

  /** The seqs here in (from, to], in order. */
  *within(from: number, to: number): Generator<number> {
    for (let i = this.firstReaching(from + 1); i < this.lo.length && this.lo[i] <= to; i++) {
      for (let seq = Math.max(this.lo[i], from + 1); seq <= Math.min(this.hi[i], to); seq++) yield seq;
    }
  }

  /** The index of the first range whose end is at or above `seq` (the count of ranges if none). */
  private firstReaching(seq: number): number {
    let low = 0;
    let high = this.hi.length;
    while (low < high) {
      const mid = (low + high) >>> 1;
      if (this.hi[mid] < seq) low = mid + 1;
      else high = mid;
    }
    return low;
  }
}
