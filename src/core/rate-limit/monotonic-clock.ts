/**
 * Milliseconds on a clock that never steps: the in-process limits' default. Date.now follows the
 * wall clock, which NTP may set back; a budget measured on it then refilled only once the clock
 * caught up again (a step back of 10 minutes refused a user's messages for 10 minutes). The global
 * `performance` is read at each call, so jest's fake timers drive it in tests.
 */
export const monotonicNow = (): number => performance.now();
