/**
 * Settles with `work`, or with `fallback` when `ms` pass first; the timer never outlives the race,
 * so a bounded wait cannot keep a process alive.
 *
 * When the timer fires, the fallback waits for the event loop's next check phase: the poll phase
 * in between reads whatever answer already arrived. So a stall of this process's own event loop
 * (a GC pause, a long synchronous task) does not turn an answer that came in time into a timeout
 * — timers run before I/O in each turn of the loop.
 */
export async function withTimeout<T, F>(work: Promise<T>, ms: number, fallback: F): Promise<T | F> {
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  const timeout = new Promise<F>((resolve) => (timer = setTimeout(() => (immediate = setImmediate(() => resolve(fallback))), ms)));
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
    if (immediate) clearImmediate(immediate);
  }
}
