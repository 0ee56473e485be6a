import * as http from 'node:http';
import * as https from 'node:https';
import { LookupAddress } from 'node:dns';
import { isIP, LookupFunction, Socket, TcpNetConnectOpts } from 'node:net';
import type { Duplex } from 'node:stream';
import { RequestFilteringHttpAgent, RequestFilteringHttpsAgent } from 'request-filtering-agent';
import { EXTRA_REFUSED_CIDRS, refusedAddressReason } from './address-policy';
import { OutboundRefusedError } from './outbound-refused.error';

/** What the agents ask of the policy at connect time. */
export interface ConnectRules {
  isAllowListed(host: string, port: number): boolean;
  /** The system resolver (dns.lookup in production), for an allow-listed host:port. */
  systemLookup: LookupFunction;
  /** The resolution OutboundPolicy.check uses, for one connection; an aborted `signal` gives it up. */
  lookupFor(signal: AbortSignal): LookupFunction;
}

type ConnectionCallback = (error: Error | null, socket: Duplex) => void;
type Connect = (options: TcpNetConnectOpts, callback?: ConnectionCallback) => Duplex;

/** Common agent options: keep-alive for repeated pushes to one service, idle sockets closed after a minute. */
export const AGENT_OPTIONS = { keepAlive: true, maxFreeSockets: 16, timeout: 60_000 } as const;

/**
 * The decision made for every new connection, after the URL checks of OutboundPolicy.check and
 * again here because a redirect, a retry or a library may connect elsewhere than what was
 * checked: an allow-listed host:port connects as is; an address literal is classified; any
 * other port than the scheme's default is refused; a host name is resolved again, by the
 * resolver the policy's check uses for that name, and the connection refused if any address it
 * yields is not public (so a DNS answer that changed since the check cannot rebind to a private
 * address). request-filtering-agent applies its own, independent check of the same addresses
 * underneath.
 */
function guardConnection(rules: ConnectRules, defaultPort: number, options: TcpNetConnectOpts, callback: ConnectionCallback | undefined, filtered: Connect, plain: Connect): Duplex {
  const host = options.host ?? 'localhost';
  const port = Number(options.port ?? defaultPort);
  if ((options as { socketPath?: string }).socketPath) {
    return errorSocket(new OutboundRefusedError('ADDRESS', 'Outbound connections to a socket path are refused'), callback);
  }
  if (rules.isAllowListed(host, port)) return plain({ ...options, lookup: rules.systemLookup }, callback);
  if (isIP(host)) {
    const reason = refusedAddressReason(host);
    if (reason) return errorSocket(new OutboundRefusedError('ADDRESS', `${host} is not a public address (${reason})`), callback);
  }
  if (port !== defaultPort) {
    return errorSocket(new OutboundRefusedError('PORT', `Port ${port} of ${host} is not the default port and ${host}:${port} is not in OUTBOUND_ALLOW_HOSTS`), callback);
  }
  const connection = new AbortController();
  const socket = filtered({ ...options, lookup: guardedLookup(rules.lookupFor(connection.signal)) }, callback);
  // A connection closed while its name still resolves (its request aborted) gives the resolution up.
  socket.once('close', () => connection.abort());
  return socket;
}

/** A resolver that fails with OutboundRefusedError when any address of the answer is not public. */
export function guardedLookup(lookup: LookupFunction): LookupFunction {
  return (hostname, options, callback) => {
    lookup(hostname, { ...options, all: true }, (error, answer) => {
      if (error) return callback(error, [] as LookupAddress[]);
      const addresses = answer as LookupAddress[];
      for (const { address } of addresses) {
        const reason = refusedAddressReason(address);
        if (reason) return callback(new OutboundRefusedError('ADDRESS', `${hostname} resolves to ${address}, not a public address (${reason})`), [] as LookupAddress[]);
      }
      if (!addresses.length) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), [] as LookupAddress[]);
      if (options.all) return callback(null, addresses);
      callback(null, addresses[0].address, addresses[0].family);
    });
  };
}

function errorSocket(error: Error, callback: ConnectionCallback | undefined): Duplex {
  const socket = new Socket();
  if (callback) callback(error, socket);
  else socket.destroy(error);
  return socket;
}

const FILTER_OPTIONS = { allowPrivateIPAddress: false, allowMetaIPAddress: false, denyIPAddressList: [...EXTRA_REFUSED_CIDRS] };

/** http.Agent for outbound requests to URLs that users chose (link previews, push endpoints). */
export class OutboundHttpAgent extends RequestFilteringHttpAgent {
  constructor(private readonly rules: ConnectRules) {
    super({ ...AGENT_OPTIONS, ...FILTER_OPTIONS });
  }

  override createConnection(options: TcpNetConnectOpts, callback?: ConnectionCallback): Duplex {
    return guardConnection(
      this.rules,
      80,
      options,
      callback,
      (o, cb) => super.createConnection(o, cb),
      (o, cb) => http.Agent.prototype.createConnection.call(this, o, cb) as Duplex,
    );
  }
}

/** https.Agent for outbound requests to URLs that users chose (link previews, push endpoints). */
export class OutboundHttpsAgent extends RequestFilteringHttpsAgent {
  constructor(private readonly rules: ConnectRules) {
    super({ ...AGENT_OPTIONS, ...FILTER_OPTIONS });
  }

  override createConnection(options: TcpNetConnectOpts, callback?: ConnectionCallback): Duplex {
    return guardConnection(
      this.rules,
      443,
      options,
      callback,
      (o, cb) => super.createConnection(o, cb),
      (o, cb) => https.Agent.prototype.createConnection.call(this, o, cb) as Duplex,
    );
  }
}
