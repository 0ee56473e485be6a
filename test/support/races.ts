import { eventually } from './factories';
import type { TestApp } from './test-app';

/**
 * Resolves once `count` statements of the test's database wait on a row lock: a race test holds
 * a lock in a connection of its own, starts the request, and waits for it to block there.
 */
export async function lockWaiters(t: TestApp, count = 1): Promise<void> {
  await eventually(async () => {
    const waiting = await t.backend.sql(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
    expect(waiting).toHaveLength(count);
  });
}

/** A method held on its first call (holdFirstCall): how often it was called, and what lets the held call go on. */
export interface HeldCall {
  calls(): number;
  release(): void;
  restore(): void;
}

/**
 * Holds the first call of `prototype[method]` (the first once `armed()` says so, if given) after
 * it has run, until `release()`: a race test lets one request read or commit, stops it there, runs
 * another request whole, then lets the first go on. Every instance's calls are counted (a
 * provider may exist once per module). `restore()` puts the method back.
 */
export function holdFirstCall<T extends object>(prototype: T, method: keyof T & string, armed: () => boolean = () => true): HeldCall {
  const original = prototype[method] as (...args: unknown[]) => Promise<unknown>;
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => (release = resolve));
  let calls = 0;
  const spy = jest.spyOn(prototype as Record<string, (...args: unknown[]) => Promise<unknown>>, method).mockImplementation(async function (this: unknown, ...args: unknown[]) {
    const result = await original.apply(this, args);
    if (armed() && ++calls === 1) await held;
    return result;
  });
  return { calls: () => calls, release: () => release(), restore: () => spy.mockRestore() };
}

/** Calls of a method held before they run (holdCalls): the spy that counts them, and what lets them all go on. */
export interface HeldCalls {
  spy: jest.SpyInstance;
  release(): void;
  restore(): void;
}

/**
 * Holds every call of `instance[method]` before it runs, until `release()` (the calls then run,
 * and later ones run at once): a test keeps one frame of a socket in progress to see what queues
 * behind it. `restore()` puts the method back.
 */
export function holdCalls<T extends object>(instance: T, method: keyof T & string): HeldCalls {
  const original = (instance[method] as (...args: unknown[]) => Promise<unknown>).bind(instance);
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const spy = jest.spyOn(instance as Record<string, (...args: unknown[]) => Promise<unknown>>, method).mockImplementation(async (...args: unknown[]) => {
    await gate;
    return original(...args);
  });
  return { spy, release: () => release(), restore: () => spy.mockRestore() };
}
