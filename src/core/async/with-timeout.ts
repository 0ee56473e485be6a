/** How often a pending wait looks at the clock; also the most one look credits to its bound. */
export const RESPONSIVE_STEP_MS = 50;

/** Cancels a bound made by `afterResponsive` (nothing happens after it). */
export type CancelBound = () => void;

/**
 * Calls `expire` once `ms` of this process's responsive time have passed, unless cancelled.
 *
 * Responsive time, not wall time: the clock is read every RESPONSIVE_STEP_MS (less for a shorter bound)
 * and one reading credits at most one step, so a stall of the process's own event loop (a GC
 * pause, a long synchronous task, a starved CPU) costs a bound one step, not the whole of it. A
 * request written to Redis just before such a stall is still answered in time, while a server
 * that does not answer is given up on after `ms` of a responsive loop. `expire` also waits for
 * the loop's next check phase: the poll phase in between reads whatever answer already arrived
 * (timers run before I/O in each turn of the loop). Nothing here keeps a process alive longer
 * than the bound; one timer is armed at a time.
 */
export function afterResponsive(ms: number, expire: () => void): CancelBound {
  const step = Math.max(1, Math.min(RESPONSIVE_STEP_MS, ms));
  let credited = 0;
  let last = Date.now();
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  const look = () => {
    const now = Date.now();
    credited += Math.min(now - last, step);
    last = now;
    if (credited >= ms) immediate = setImmediate(expire);
    else timer = setTimeout(look, Math.min(step, ms - credited));
  };
  timer = setTimeout(look, step);
  return () => {
    clearTimeout(timer);
    if (immediate) clearImmediate(immediate);
  };
}

/**
 * Settles with `work`, or with `fallback` when `ms` of responsive time pass first
 * (`afterResponsive`); the bound never outlives the race.
 */
export async function withTimeout<T, F>(work: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let cancel: CancelBound | undefined;
  const timeout = new Promise<F>((resolve) => (cancel = afterResponsive(ms, () => resolve(fallback))));
  try {
    return await Promise.race([work, timeout]);
  } finally {
    cancel!();
  }
}
