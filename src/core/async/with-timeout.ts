/** How often a pending wait looks at the clock; also the most one look credits to the bound. */
const STEP_MS = 50;

/**
 * Settles with `work`, or with `fallback` when `ms` pass first; the timer never outlives the race,
 * so a bounded wait cannot keep a process alive.
 *
 * The bound counts this process's responsive time, not wall time: the clock is read every
 * STEP_MS (less for a shorter bound) and one reading credits at most one step, so a stall of
 * the process's own event loop (a GC pause, a long synchronous task, a starved CPU) costs the
 * wait one step, not its whole bound. A command written to Redis just before such a stall is
 * still answered in time, while a server that does not answer is given up on after `ms` of a
 * responsive loop. When the bound is reached, the fallback also waits for the loop's next check
 * phase: the poll phase in between reads whatever answer already arrived (timers run before I/O
 * in each turn of the loop).
 */
export async function withTimeout<T, F>(work: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  const step = Math.max(1, Math.min(STEP_MS, ms));
  const timeout = new Promise<F>((resolve) => {
    let credited = 0;
    let last = Date.now();
    const look = () => {
      const now = Date.now();
      credited += Math.min(now - last, step);
      last = now;
      if (credited >= ms) immediate = setImmediate(() => resolve(fallback));
      else timer = setTimeout(look, Math.min(step, ms - credited));
    };
    timer = setTimeout(look, step);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
    if (immediate) clearImmediate(immediate);
  }
}
