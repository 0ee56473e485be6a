import { lookup as dnsLookup, LookupAddress } from 'node:dns';
import type * as http from 'node:http';
import type * as https from 'node:https';
import { isIP, LookupFunction } from 'node:net';
import { OnModuleDestroy } from '@nestjs/common';
import { refusedAddressReason } from './address-policy';
import { hostPortKey } from './host-port';
import { OutboundHttpAgent, OutboundHttpsAgent } from './outbound-agents';
import { MAX_OUTBOUND_URL_LENGTH, OutboundRefusedError } from './outbound-refused.error';

export interface OutboundPolicyOptions {
  /** Canonical `host:port` keys (see hostPortKey) that may be reached although private or on another port. */
  allowHosts: readonly string[];
  /** The resolver; dns.lookup unless a unit test passes its own. */
  lookup?: LookupFunction;
}

const DEFAULT_PORTS: Record<string, number> = { 'http:': 80, 'https:': 443 };

/**
 * The one gate for requests to URLs that users chose (link previews, Web Push endpoints).
 * `check()` validates a URL before any request and says why it refuses; `httpAgent` and
 * `httpsAgent` enforce the same rules at connect time, after DNS resolution, for every
 * connection (redirect hops included). Allowed: http and https, public unicast addresses, the
 * scheme's default port (a non-public address is refused as ADDRESS whatever its port); OUTBOUND_ALLOW_HOSTS lists exact `host:port` pairs exempt from the port and
 * address rules (a test server, a push relay on a private network).
 */
export class OutboundPolicy implements OnModuleDestroy {
  static readonly MAX_URL_LENGTH = MAX_OUTBOUND_URL_LENGTH;

  readonly httpAgent: http.Agent;
  readonly httpsAgent: https.Agent;
  private readonly allowed: ReadonlySet<string>;
  private readonly lookup: LookupFunction;

  constructor(options: OutboundPolicyOptions) {
    this.allowed = new Set(options.allowHosts);
    this.lookup = options.lookup ?? (dnsLookup as LookupFunction);
    const rules = { isAllowListed: (host: string, port: number) => this.isAllowListed(host, port), lookup: this.lookup };
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
   * address will be the same when the request connects.
   */
  async check(input: string | URL): Promise<URL> {
    const url = parseUrl(input);
    const defaultPort = DEFAULT_PORTS[url.protocol];
    if (defaultPort === undefined) throw new OutboundRefusedError('SCHEME', `Only http and https URLs are fetched, not ${url.protocol}`);
    if (url.username || url.password) throw new OutboundRefusedError('CREDENTIALS', 'URLs with credentials are not fetched');
    const port = url.port ? Number(url.port) : defaultPort;
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    if (this.isAllowListed(host, port)) return url;
    // The address first: a loopback or private target is refused as such on any port, so the
    // reason says what protects it, not a port rule that a default port would not meet.
    const addresses = isIP(host) ? [host] : await this.resolve(host);
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

  private resolve(host: string): Promise<string[]> {
    return new Promise((resolve, reject) => {
      this.lookup(host, { all: true }, (error, answer) => {
        const addresses = error ? [] : (answer as LookupAddress[]).map((a) => a.address);
        if (addresses.length) resolve(addresses);
        else reject(new OutboundRefusedError('UNRESOLVABLE', `${host} does not resolve`));
      });
    });
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
