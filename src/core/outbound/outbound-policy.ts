import { lookup as dnsLookup, LookupAddress } from 'node:dns';
import type * as http from 'node:http';
import type * as https from 'node:https';
import { isIP, LookupFunction } from 'node:net';
import { OnModuleDestroy } from '@nestjs/common';
import { refusedAddressReason } from './address-policy';
import { MAX_RESOLUTIONS_IN_FLIGHT, MAX_WAITING_RESOLUTIONS, RESOLVE_DEADLINE_MS, ResolveHost, resolveWithCares, Slots } from './host-resolver';
import { hostPortKey } from './host-port';
import { OutboundHttpAgent, OutboundHttpsAgent } from './outbound-agents';
import { MAX_OUTBOUND_URL_LENGTH, OutboundRefusedError, ResolutionUnavailableError } from './outbound-refused.error';

export interface OutboundPolicyOptions {
  /** Canonical `host:port` keys (see hostPortKey) that may be reached although private or on another port. */
  allowHosts: readonly string[];
  /** The system resolver, for names the operator configured; dns.lookup unless a unit test passes its own. */
  lookup?: LookupFunction;
  /** The resolver of names users chose; c-ares (resolveWithCares) unless a unit test passes its own. */
  resolve?: ResolveHost;
}

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 };

/**
 * The one gate for requests to URLs that users chose (link previews, Web Push endpoints).
 * `check()` validates a URL before any request and says why it refuses; `httpAgent` and
 * `httpsAgent` enforce the same rules at connect time, after DNS resolution, for every
 * connection (redirect hops included). Allowed: http and https, public unicast addresses, the
 * scheme's default port (a non-public address is refused as ADDRESS whatever its port); OUTBOUND_ALLOW_HOSTS lists exact `host:port` pairs exempt from the port and
 * address rules (a test server, a push relay on a private network).
 *
 * Names are resolved two ways, by the check and the agents alike: the names of
 * OUTBOUND_ALLOW_HOSTS (on any port) and `localhost`, which the operator controls and which may
 * be in /etc/hosts, by the system resolver (dns.lookup); every other name, which a user chose, by
 * c-ares (resolveWithCares), at most RESOLVE_DEADLINE_MS each and MAX_RESOLUTIONS_IN_FLIGHT at a
 * time, MAX_WAITING_RESOLUTIONS more waiting, past which they fail at once: a user's names whose
 * DNS never answers cannot take the thread pool that dns.lookup shares with the whole process.
 */
export class OutboundPolicy implements OnModuleDestroy {
  static readonly MAX_URL_LENGTH = MAX_OUTBOUND_URL_LENGTH;

  readonly httpAgent: http.Agent;
  readonly httpsAgent: https.Agent;
  private readonly allowed: ReadonlySet<string>;
  /** Names resolved by the system resolver: those of OUTBOUND_ALLOW_HOSTS, and localhost. */
  private readonly systemNames: ReadonlySet<string>;
  private readonly lookup: LookupFunction;
  private readonly resolveHost: ResolveHost;
  private readonly resolutions = new Slots(
    MAX_RESOLUTIONS_IN_FLIGHT,
    MAX_WAITING_RESOLUTIONS,
    () => new ResolutionUnavailableError('BUSY', `Over ${MAX_RESOLUTIONS_IN_FLIGHT + MAX_WAITING_RESOLUTIONS} host names being resolved`),
  );

  constructor(options: OutboundPolicyOptions) {
    this.allowed = new Set(options.allowHosts);
    this.systemNames = new Set(['localhost', ...options.allowHosts.map((key) => key.slice(0, key.lastIndexOf(':')))]);
    this.lookup = options.lookup ?? (dnsLookup as LookupFunction);
    this.resolveHost = options.resolve ?? resolveWithCares;
    const rules = {
      isAllowListed: (host: string, port: number) => this.isAllowListed(host, port),
      systemLookup: this.lookup,
      lookupFor: (signal: AbortSignal) => this.lookupFor(signal),
    };
    this.httpAgent = new OutboundHttpAgent(rules);
    this.httpsAgent = new OutboundHttpsAgent(rules);
  }

  /** True when `host:port` (host as in a URL, IPv6 with or without brackets) is in OUTBOUND_ALLOW_HOSTS. */
  isAllowListed(host: string, port: number): boolean {
    if (!this.allowed.size) return false;
    const key = hostPortKey(host, port);
    return key !== null && this.allowed.has(key);
  }

  /** The agent for a URL's scheme. */
  agentFor(url: URL): http.Agent {
    return url.protocol === 'https:' ? this.httpsAgent : this.httpAgent;
  }

  /**
   * Validates a URL a user chose and resolves its host; resolves to the parsed URL or throws
   * OutboundRefusedError. The agents check the connection again: a check is no guarantee the
   * address will be the same when the request connects. `signal` gives up the resolution.
   */
  async check(input: string | URL, signal: AbortSignal = new AbortController().signal): Promise<URL> {
    const url = parseUrl(input);
    const defaultPort = DEFAULT_PORTS[url.protocol];
    if (defaultPort === undefined) throw new OutboundRefusedError('SCHEME', `Only http and https URLs are fetched, not ${url.protocol}`);
    if (url.username || url.password) throw new OutboundRefusedError('CREDENTIALS', 'URLs with credentials are not fetched');
    const port = url.port ? Number(url.port) : defaultPort;
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    if (this.isAllowListed(host, port)) return url;
    // The address first: a loopback or private target is refused as such on any port, so the
    // reason says what protects it, not a port rule that a default port would not meet.
    const addresses = isIP(host) ? [host] : await this.addressesOf(host, signal);
    for (const address of addresses) {
      const reason = refusedAddressReason(address);
      if (reason) throw new OutboundRefusedError('ADDRESS', `${host} is not a public address (${address}: ${reason})`);
    }
    if (port !== defaultPort) {
      throw new OutboundRefusedError('PORT', `Port ${port} is not the default port of ${url.protocol} and ${url.host} is not in OUTBOUND_ALLOW_HOSTS`);
    }
    return url;
  }

  onModuleDestroy(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  /** The addresses of a host name, by the resolver its kind of name gets (see the class); rejects with OutboundRefusedError (UNRESOLVABLE). */
  private addressesOf(host: string, signal: AbortSignal): Promise<string[]> {
    return this.systemNames.has(host.toLowerCase()) ? this.systemAddresses(host) : this.chosenAddresses(host, signal);
  }

  private systemAddresses(host: string): Promise<string[]> {
    return new Promise((resolve, reject) => {
      this.lookup(host, { all: true }, (error, answer) => {
        const addresses = error ? [] : (answer as LookupAddress[]).map((a) => a.address);
        if (addresses.length) resolve(addresses);
        else reject(new OutboundRefusedError('UNRESOLVABLE', `${host} does not resolve`));
      });
    });
  }

  private async chosenAddresses(host: string, signal: AbortSignal): Promise<string[]> {
    const release = await this.resolutions.acquire(signal);
    const deadline = new AbortController();
    const giveUp = () => deadline.abort(signal.reason);
    signal.addEventListener('abort', giveUp, { once: true });
    if (signal.aborted) giveUp();
    const timer = setTimeout(() => deadline.abort(new ResolutionUnavailableError('TIMEOUT', `No DNS answer for ${host} within ${RESOLVE_DEADLINE_MS} ms`)), RESOLVE_DEADLINE_MS);
    // Raced, not only signalled: the slot is free when the deadline passes, whatever the resolver does.
    const expired = new Promise<never>((_resolve, reject) => deadline.signal.addEventListener('abort', () => reject(deadline.signal.reason as Error), { once: true }));
    try {
      const addresses = await Promise.race([this.resolveHost(host, deadline.signal), expired]);
      if (addresses.length) return addresses;
    } catch (error) {
      if (error instanceof ResolutionUnavailableError || signal.aborted) throw error;
      if ((error as NodeJS.ErrnoException).code === 'ETIMEOUT') throw new ResolutionUnavailableError('TIMEOUT', `No DNS answer for ${host}`);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', giveUp);
      release();
    }
    throw new OutboundRefusedError('UNRESOLVABLE', `${host} does not resolve`);
  }

  /** The agents' lookup for a connection (`signal` aborts when it closes): the same resolution as check's, as a LookupFunction. */
  private lookupFor(signal: AbortSignal): LookupFunction {
    return (hostname, options, callback) => {
      const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
      this.addressesOf(hostname, signal).then(
        (found) => {
          const addresses: LookupAddress[] = found.map((address) => ({ address, family: isIP(address) })).filter((a) => !family || a.family === family);
          if (!addresses.length) return callback(new OutboundRefusedError('UNRESOLVABLE', `${hostname} has no IPv${family} address`), []);
          if (options.all) callback(null, addresses);
          else callback(null, addresses[0].address, addresses[0].family);
        },
        (error: Error) => callback(error, []),
      );
    };
  }
}

function parseUrl(input: string | URL): URL {
  const text = typeof input === 'string' ? input : input.href;
  if (text.length > OutboundPolicy.MAX_URL_LENGTH) throw new OutboundRefusedError('URL_TOO_LONG', `URLs are at most ${OutboundPolicy.MAX_URL_LENGTH} characters`);
  try {
    return new URL(text);
  } catch {
    throw new OutboundRefusedError('INVALID_URL', 'Not an absolute URL');
  }
}
