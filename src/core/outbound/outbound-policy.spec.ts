import { LookupAddress } from 'node:dns';
import * as http from 'node:http';
import * as https from 'node:https';
import { AddressInfo, LookupFunction } from 'node:net';
import { refusedAddressReason } from './address-policy';
import { MAX_RESOLUTIONS_IN_FLIGHT, MAX_WAITING_RESOLUTIONS, RESOLVE_DEADLINE_MS, ResolveHost } from './host-resolver';
import { hostPortKey, parseHostPort } from './host-port';
import { OutboundPolicy } from './outbound-policy';
import { OutboundRefusedError, ResolutionUnavailableError } from './outbound-refused.error';

/** An answer per call: a list of lists answers differently on each call (the first list, then the second...). */
function answerOf(entry: string[] | string[][] | undefined, call: number): string[] {
  return (Array.isArray(entry?.[0]) ? (entry as string[][])[Math.min(call, entry!.length) - 1] : (entry as string[] | undefined)) ?? [];
}

/**
 * The resolver of names users chose (c-ares in production) answering from a table, counting
 * calls and keeping the signal of each; unknown names fail like ENOTFOUND, 'never' never answers.
 */
function fakeResolve(table: Record<string, string[] | string[][] | 'never'>) {
  const calls: Record<string, number> = {};
  const signals: AbortSignal[] = [];
  const resolve: ResolveHost = async (host, signal) => {
    const n = (calls[host] = (calls[host] ?? 0) + 1);
    signals.push(signal);
    const entry = table[host];
    if (entry === 'never') return new Promise<never>(() => undefined);
    const answer = answerOf(entry, n);
    if (!answer.length) throw Object.assign(new Error(`queryA ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return answer;
  };
  return { resolve, calls, signals };
}

/** The system resolver (dns.lookup in production) answering from a table, counting calls per name; unknown names fail like ENOTFOUND. */
function fakeLookup(table: Record<string, string[] | string[][]>) {
  const calls: Record<string, number> = {};
  const lookup: LookupFunction = (hostname, options, callback) => {
    const n = (calls[hostname] = (calls[hostname] ?? 0) + 1);
    const addresses: LookupAddress[] = answerOf(table[hostname], n).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    setImmediate(() => {
      if (!addresses.length) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []);
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0].address, addresses[0].family);
    });
  };
  return { lookup, calls };
}

async function refusal(promise: Promise<unknown>): Promise<OutboundRefusedError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(OutboundRefusedError);
    return error as OutboundRefusedError;
  }
  throw new Error('expected an OutboundRefusedError');
}

/** GET through the policy's agent, as a caller would; resolves to the status or rejects with the request's error. */
function get(policy: OutboundPolicy, url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = (url.startsWith('https:') ? https : http).get(url, { agent: policy.agentFor(new URL(url)) }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
  });
}

describe('refusedAddressReason', () => {
  it.each([
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['169.254.169.254', 'linkLocal'],
    ['224.0.0.1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['192.0.2.1', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['fe80::1', 'linkLocal'],
    ['fe80::1%eth0', 'linkLocal'],
    ['fc00::1', 'uniqueLocal'],
    ['fd12:3456::1', 'uniqueLocal'],
    ['ff02::1', 'multicast'],
    ['::ffff:127.0.0.1', 'ipv4Mapped'],
    ['::ffff:10.0.0.1', 'ipv4Mapped'],
    ['::ffff:8.8.8.8', 'ipv4Mapped'],
    ['::127.0.0.1', 'ipv4Mapped'],
    ['::7f00:1', 'refused range ::/96'],
    ['::a00:1', 'refused range ::/96'],
    ['64:ff9b::7f00:1', 'rfc6052'],
    ['64:ff9b:1::a00:1', 'rfc6052'],
    ['2002:7f00:1::', '6to4'],
    ['2001::1', 'teredo'],
    ['2001:db8::1', 'reserved'],
    ['localhost', 'invalid'],
    ['0x7f.1', 'invalid'],
  ])('refuses %s (%s)', (address, reason) => {
    expect(refusedAddressReason(address)).toBe(reason);
  });

  it.each(['8.8.8.8', '1.1.1.1', '93.184.216.34', '2606:4700:4700::1111', '2a00:1450:4001:80b::200e'])('lets the public address %s through', (address) => {
    expect(refusedAddressReason(address)).toBeNull();
  });
});

describe('hostPortKey / parseHostPort', () => {
  it('writes hosts the way a URL does, so allow-list entries and request URLs compare', () => {
    expect(hostPortKey('LocalHost', 8080)).toBe('localhost:8080');
    expect(hostPortKey('127.1', 80)).toBe('127.0.0.1:80');
    expect(hostPortKey('::1', 4000)).toBe('[::1]:4000');
    expect(hostPortKey('[0:0::1]', 4000)).toBe('[::1]:4000');
    expect(hostPortKey('bücher.example', 443)).toBe('xn--bcher-kva.example:443');
    expect(parseHostPort(' [::1]:4000 ')).toBe('[::1]:4000');
  });

  it('refuses what is not a host and a port', () => {
    for (const bad of ['a/b', 'user@host', 'host?x', '']) expect(hostPortKey(bad, 80)).toBeNull();
    expect(hostPortKey('host', 0)).toBeNull();
    expect(hostPortKey('host', 65536)).toBeNull();
    for (const bad of ['host', '::1:80', 'host:', ':80', 'host:80:80']) expect(parseHostPort(bad)).toBeNull();
  });
});

/** A system resolver that knows no name: nothing in this file asks the machine's DNS. */
const noSystemLookup = fakeLookup({}).lookup;

describe('OutboundPolicy.check', () => {
  const { resolve } = fakeResolve({
    'public.test': ['93.184.216.34', '2606:4700:4700::1111'],
    'loopback.test': ['127.0.0.1'],
    'v6-loopback.test': ['::1'],
    'metadata.test': ['169.254.169.254'],
    'mixed.test': ['93.184.216.34', '10.0.0.7'],
  });
  const policy = new OutboundPolicy({ allowHosts: [parseHostPort('relay.internal:8443')!, parseHostPort('127.0.0.1:5000')!], resolve, lookup: noSystemLookup });

  it('accepts a public http or https URL on the default port', async () => {
    await expect(policy.check('https://public.test/page?q=1')).resolves.toEqual(new URL('https://public.test/page?q=1'));
    await expect(policy.check(new URL('http://public.test:80/'))).resolves.toBeInstanceOf(URL);
    await expect(policy.check('http://8.8.8.8/')).resolves.toBeInstanceOf(URL);
  });

  it.each([
    ['file:///etc/passwd', 'SCHEME'],
    ['gopher://public.test/', 'SCHEME'],
    ['ftp://public.test/', 'SCHEME'],
    ['javascript:alert(1)', 'SCHEME'],
    ['not a url', 'INVALID_URL'],
    ['/relative/path', 'INVALID_URL'],
    [`https://public.test/${'a'.repeat(2048)}`, 'URL_TOO_LONG'],
    ['https://user:secret@public.test/', 'CREDENTIALS'],
    ['http://public.test:8080/', 'PORT'],
    ['https://public.test:80/', 'PORT'],
    ['http://127.0.0.1/', 'ADDRESS'],
    ['http://[::1]/', 'ADDRESS'],
    ['http://169.254.169.254/latest/meta-data/', 'ADDRESS'],
    ['http://10.0.0.1/', 'ADDRESS'],
    ['http://0.0.0.0/', 'ADDRESS'],
    ['http://2130706433/', 'ADDRESS'],
    ['http://0x7f.1/', 'ADDRESS'],
    ['http://[::ffff:127.0.0.1]/', 'ADDRESS'],
    ['http://[::ffff:7f00:1]/', 'ADDRESS'],
    ['http://[::127.0.0.1]/', 'ADDRESS'],
    ['http://[fd00::1]/', 'ADDRESS'],
    ['http://loopback.test/', 'ADDRESS'],
    ['http://v6-loopback.test/', 'ADDRESS'],
    ['http://metadata.test/', 'ADDRESS'],
    ['http://mixed.test/', 'ADDRESS'],
    ['http://unknown.test/', 'UNRESOLVABLE'],
    ['http://127.0.0.1:5001/', 'ADDRESS'],
    ['http://loopback.test:5001/', 'ADDRESS'],
    ['http://8.8.8.8:5001/', 'PORT'],
    ['https://relay.internal/', 'UNRESOLVABLE'],
  ])('refuses %s with %s', async (url, reason) => {
    expect((await refusal(policy.check(url))).reason).toBe(reason);
  });

  it('lets an allow-listed host:port through whatever it resolves to, and only that port', async () => {
    await expect(policy.check('https://relay.internal:8443/push/1')).resolves.toBeInstanceOf(URL);
    await expect(policy.check('http://127.0.0.1:5000/')).resolves.toBeInstanceOf(URL);
    expect(policy.isAllowListed('127.0.0.1', 5000)).toBe(true);
    expect(policy.isAllowListed('RELAY.internal', 8443)).toBe(true);
    expect(policy.isAllowListed('127.0.0.1', 5001)).toBe(false);
    expect(policy.isAllowListed('localhost', 5000)).toBe(false);
  });

  it('resolves the names of OUTBOUND_ALLOW_HOSTS, on any port, and localhost with the system resolver, which reads /etc/hosts', async () => {
    const { lookup, calls } = fakeLookup({ 'relay.internal': ['10.0.0.7'], localhost: ['127.0.0.1'] });
    const { resolve, calls: chosen } = fakeResolve({ 'relay.internal': ['93.184.216.34'], localhost: ['93.184.216.34'] });
    const policy = new OutboundPolicy({ allowHosts: [parseHostPort('relay.internal:8443')!], resolve, lookup });
    expect((await refusal(policy.check('https://relay.internal/'))).reason).toBe('ADDRESS');
    expect((await refusal(policy.check('http://LOCALHOST/'))).reason).toBe('ADDRESS');
    expect(calls).toEqual({ 'relay.internal': 1, localhost: 1 });
    expect(chosen).toEqual({});
  });
});

describe('OutboundPolicy agents', () => {
  let server: http.Server;
  let port: number;
  let requestsSeen = 0;

  beforeAll(async () => {
    server = http.createServer((_req, res) => {
      requestsSeen++;
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));
  beforeEach(() => (requestsSeen = 0));

  it('connects to an allow-listed host:port even on loopback', async () => {
    const policy = new OutboundPolicy({ allowHosts: [`127.0.0.1:${port}`] });
    await expect(get(policy, `http://127.0.0.1:${port}/`)).resolves.toBe(200);
    expect(requestsSeen).toBe(1);
    policy.onModuleDestroy();
  });

  it('refuses the same server when it is not allow-listed, before any byte reaches it', async () => {
    const policy = new OutboundPolicy({ allowHosts: [] });
    // Refused as loopback, although something listens there and would answer.
    expect((await refusal(get(policy, `http://127.0.0.1:${port}/`))).reason).toBe('ADDRESS');
    // Allow-listing the port under another name does not allow the address.
    const byName = new OutboundPolicy({ allowHosts: [`localhost:${port}`] });
    expect((await refusal(get(byName, `http://127.0.0.1:${port}/`))).reason).toBe('ADDRESS');
    expect(requestsSeen).toBe(0);
  });

  it.each(['http://127.0.0.1/', 'http://[::1]/', 'http://169.254.169.254/', 'http://10.0.0.1/', 'https://127.0.0.1/', 'https://[::ffff:127.0.0.1]/'])(
    'refuses a connection to %s',
    async (url) => {
      const policy = new OutboundPolicy({ allowHosts: [] });
      expect((await refusal(get(policy, url))).reason).toBe('ADDRESS');
    },
  );

  it('refuses a host name that resolves to loopback, at connect time', async () => {
    const { resolve } = fakeResolve({ 'loopback.test': ['127.0.0.1'], 'v6.test': ['::1'], 'mixed.test': ['93.184.216.34', '127.0.0.1'] });
    const policy = new OutboundPolicy({ allowHosts: [], resolve, lookup: noSystemLookup });
    for (const url of ['http://loopback.test/', 'https://loopback.test/', 'http://v6.test/', 'http://mixed.test/']) {
      const error = await refusal(get(policy, url));
      expect(error.reason).toBe('ADDRESS');
    }
  });

  it('refuses a name whose answer turned private after the check passed (DNS rebinding)', async () => {
    const { resolve, calls } = fakeResolve({ 'rebind.test': [['93.184.216.34'], ['127.0.0.1']] });
    const policy = new OutboundPolicy({ allowHosts: [], resolve, lookup: noSystemLookup });
    await expect(policy.check('http://rebind.test/')).resolves.toBeInstanceOf(URL);
    expect((await refusal(get(policy, 'http://rebind.test/'))).reason).toBe('ADDRESS');
    expect(calls['rebind.test']).toBe(2);
  });

  it('refuses a connection to a port other than the default', async () => {
    const { resolve } = fakeResolve({ 'public.test': ['93.184.216.34'] });
    const policy = new OutboundPolicy({ allowHosts: [], resolve, lookup: noSystemLookup });
    expect((await refusal(get(policy, 'http://public.test:6379/'))).reason).toBe('PORT');
  });

  it('resolves an allow-listed name with the system resolver, as the check does', async () => {
    const { lookup, calls } = fakeLookup({ 'relay.test': ['127.0.0.1'] });
    const { resolve, calls: chosen } = fakeResolve({});
    const policy = new OutboundPolicy({ allowHosts: [`relay.test:${port}`], resolve, lookup });
    await expect(get(policy, `http://relay.test:${port}/`)).resolves.toBe(200);
    expect(requestsSeen).toBe(1);
    // The same name on another port is not allowed, but still the operator's: refused by its address, not unresolvable.
    expect((await refusal(get(policy, 'http://relay.test/'))).reason).toBe('ADDRESS');
    expect(calls['relay.test']).toBe(2);
    expect(chosen).toEqual({});
    policy.onModuleDestroy();
  });

  it('gives up the resolution of a connection closed while its name resolves', async () => {
    const { resolve, signals } = fakeResolve({ 'never.test': 'never' });
    const policy = new OutboundPolicy({ allowHosts: [], resolve, lookup: noSystemLookup });
    const controller = new AbortController();
    const request = http.get('http://never.test/', { agent: policy.httpAgent, signal: controller.signal });
    const failed = new Promise((resolve) => request.on('error', resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(signals.map((s) => s.aborted)).toEqual([false]);
    controller.abort();
    await failed;
    await new Promise((resolve) => setImmediate(resolve));
    expect(signals.map((s) => s.aborted)).toEqual([true]);
  });
});

describe('OutboundPolicy resolution', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('gives up, and cancels, a name whose DNS never answers after RESOLVE_DEADLINE_MS; another name resolves meanwhile', async () => {
    const { resolve, signals } = fakeResolve({ 'never.test': 'never', 'public.test': ['93.184.216.34'] });
    const policy = new OutboundPolicy({ allowHosts: [], resolve, lookup: noSystemLookup });
    const hung = refusal(policy.check('https://never.test/'));
    await expect(policy.check('https://public.test/')).resolves.toBeInstanceOf(URL);
    await jest.advanceTimersByTimeAsync(RESOLVE_DEADLINE_MS);
    const error = await hung;
    expect(error).toBeInstanceOf(ResolutionUnavailableError);
    expect({ reason: error.reason, kind: (error as ResolutionUnavailableError).kind }).toEqual({ reason: 'UNRESOLVABLE', kind: 'TIMEOUT' });
    expect(signals.map((s) => s.aborted)).toEqual([true, false]);
  });

  it(`resolves at most ${MAX_RESOLUTIONS_IN_FLIGHT} names at once, ${MAX_WAITING_RESOLUTIONS} more waiting, and refuses the next at once`, async () => {
    const { resolve, calls } = fakeResolve({ 'never.test': 'never', 'public.test': ['93.184.216.34'] });
    const policy = new OutboundPolicy({ allowHosts: [], resolve, lookup: noSystemLookup });
    const checks = Array.from({ length: MAX_RESOLUTIONS_IN_FLIGHT + MAX_WAITING_RESOLUTIONS - 1 }, () => refusal(policy.check('https://never.test/')));
    const leaving = new AbortController();
    const left = policy.check('https://public.test/', leaving.signal).catch((error: unknown) => error);
    await jest.advanceTimersByTimeAsync(0);
    expect(calls['never.test']).toBe(MAX_RESOLUTIONS_IN_FLIGHT);
    // Past the queue: refused without asking the resolver.
    const busy = await refusal(policy.check('https://public.test/'));
    expect(busy).toBeInstanceOf(ResolutionUnavailableError);
    expect((busy as ResolutionUnavailableError).kind).toBe('BUSY');
    expect(calls['public.test']).toBeUndefined();
    // A waiting caller that gives up leaves the queue, never resolved.
    leaving.abort();
    expect((await left) as Error).toMatchObject({ name: 'AbortError' });
    // Each deadline that passes lets as many waiting resolutions start.
    await jest.advanceTimersByTimeAsync(RESOLVE_DEADLINE_MS);
    expect(calls['never.test']).toBe(Math.min(2 * MAX_RESOLUTIONS_IN_FLIGHT, MAX_RESOLUTIONS_IN_FLIGHT + MAX_WAITING_RESOLUTIONS));
    await jest.advanceTimersByTimeAsync(MAX_WAITING_RESOLUTIONS * RESOLVE_DEADLINE_MS);
    expect((await Promise.all(checks)).map((e) => (e as ResolutionUnavailableError).kind)).toEqual(checks.map(() => 'TIMEOUT'));
    expect(calls['public.test']).toBeUndefined();
    await expect(policy.check('https://public.test/')).resolves.toBeInstanceOf(URL);
  });
});
