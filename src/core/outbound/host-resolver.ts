import { promises as dns } from 'node:dns';

/** c-ares's wait for one answer before it asks again (it doubles the wait on each try). */
export const DNS_TRY_TIMEOUT_MS = 1_000;
/** c-ares's tries per query. */
export const DNS_TRIES = 2;
/**
 * A resolution of a name a user chose is given up (and cancelled) after this, whatever the
 * resolver does: a name whose DNS never answers costs at most this. c-ares's two tries (1 s,
 * then 2 s and some jitter) would end a little later on their own.
 */
export const RESOLVE_DEADLINE_MS = 3_000;
/** Resolutions of names users chose in flight at once in a process... */
export const MAX_RESOLUTIONS_IN_FLIGHT = 16;
/** ...and waiting for one of those to end; past that a resolution is refused at once. */
export const MAX_WAITING_RESOLUTIONS = 32;

/**
 * Resolves a host name a user chose to its addresses (IPv4 and IPv6); rejects when it has none
 * (an error with the resolver's `code`, ETIMEOUT when the DNS did not answer). An aborted
 * `signal` gives the resolution up.
 */
export type ResolveHost = (host: string, signal: AbortSignal) => Promise<string[]>;

/**
 * The production ResolveHost: A and AAAA queries in parallel, by c-ares (dns.Resolver), never
 * getaddrinfo. dns.lookup runs getaddrinfo on libuv's thread pool, at most 2 such jobs at a time,
 * and a name whose DNS never answers holds one for the system resolver's full timeout (about
 * 10 s), even after its request was aborted: a user asking for previews of such names would
 * stall every other dns.lookup of the process (other previews, Web Push, and connections to the
 * database or Redis by name). c-ares runs on the event loop, with our timeouts, and is cancelled.
 * It does not read /etc/hosts: names the operator configured keep dns.lookup (OutboundPolicy).
 */
export const resolveWithCares: ResolveHost = async (host, signal) => {
  signal.throwIfAborted();
  // A channel per resolution, so giving one up (cancel) ends its queries and no other's.
  const resolver = new dns.Resolver({ timeout: DNS_TRY_TIMEOUT_MS, tries: DNS_TRIES });
  const cancel = () => resolver.cancel();
  signal.addEventListener('abort', cancel, { once: true });
  try {
    const answers = await Promise.allSettled([resolver.resolve4(host), resolver.resolve6(host)]);
    const addresses = answers.flatMap((answer) => (answer.status === 'fulfilled' ? answer.value : []));
    if (addresses.length) return addresses;
    const errors = answers.flatMap((answer) => (answer.status === 'rejected' ? [answer.reason as NodeJS.ErrnoException] : []));
    // No answer at all is not "no address": the name may well resolve once the DNS answers.
    throw errors.find((error) => error.code === 'ETIMEOUT') ?? errors[0] ?? Object.assign(new Error(`${host} has no address`), { code: 'ENODATA' });
  } finally {
    signal.removeEventListener('abort', cancel);
  }
};

/**
 * A counting semaphore with a short queue: `acquire` resolves with a release function once one of
 * `size` slots is free (waiters in order), or rejects at once with `full()` when `queue` callers
 * already wait, or with the signal's reason when the caller gives up while waiting.
 */
export class Slots {
  private used = 0;
  private readonly waiting: Array<{ grant(): void }> = [];

  constructor(
    private readonly size: number,
    private readonly queue: number,
    private readonly full: () => Error,
  ) {}

  get inUse(): number {
    return this.used;
  }

  acquire(signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted();
    if (this.used < this.size) {
      this.used++;
      return Promise.resolve(this.releaser());
    }
    if (this.waiting.length >= this.queue) return Promise.reject(this.full());
    return new Promise((resolve, reject) => {
      const waiter = {
        grant: () => {
          signal.removeEventListener('abort', leave);
          resolve(this.releaser());
        },
      };
      const leave = () => {
        this.waiting.splice(this.waiting.indexOf(waiter), 1);
        reject(signal.reason);
      };
      signal.addEventListener('abort', leave, { once: true });
      this.waiting.push(waiter);
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // The slot passes to the first waiter, if any, without being counted free in between.
      const next = this.waiting.shift();
      if (next) next.grant();
      else this.used--;
    };
  }
}
