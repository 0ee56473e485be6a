import type { IncomingHttpHeaders } from 'node:http';
import { OriginPolicy, OriginRequest } from './origin-policy';

const request = (headers: IncomingHttpHeaders, encrypted = false): OriginRequest => ({ headers, socket: { encrypted } }) as unknown as OriginRequest;

describe('OriginPolicy', () => {
  const direct = new OriginPolicy(['https://web.h2v.example'], 0);
  const proxied = new OriginPolicy([], 1);

  it('lets a request without Origin through: native apps and curl send none', () => {
    expect(direct.allows(undefined, request({ host: 'api.h2v.example' }))).toBe(true);
  });

  it('accepts the origin the request was addressed to, by Host and the socket scheme', () => {
    expect(direct.allows('http://api.h2v.example', request({ host: 'api.h2v.example' }))).toBe(true);
    expect(direct.allows('https://api.h2v.example', request({ host: 'API.h2v.example:443' }, true))).toBe(true);
    expect(direct.allows('http://127.0.0.1:3000', request({ host: '127.0.0.1:3000' }))).toBe(true);
  });

  it('accepts the CORS_ORIGINS and nothing else', () => {
    const req = request({ host: 'api.h2v.example' });
    expect(direct.allows('https://web.h2v.example', req)).toBe(true);
    for (const origin of ['https://evil.example', 'https://api.h2v.example', 'http://api.h2v.example:8080', 'http://web.h2v.example', 'null', '', 'file://', 'garbage']) {
      expect([origin, direct.allows(origin, req)]).toEqual([origin, false]);
    }
  });

  it('refuses when the request names no usable host', () => {
    expect(direct.allows('http://a.example', request({}))).toBe(false);
    expect(direct.allows('http://a.example', request({ host: 'a.example/evil' }))).toBe(false);
  });

  it('reads X-Forwarded-Proto and X-Forwarded-Host only when a proxy is trusted', () => {
    const headers = { host: 'app:3000', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'chat.example' };
    expect(proxied.allows('https://chat.example', request(headers))).toBe(true);
    expect(proxied.allows('http://app:3000', request(headers))).toBe(false);
    expect(direct.allows('https://chat.example', request(headers))).toBe(false);
    expect(direct.allows('http://app:3000', request(headers))).toBe(true);
  });

  it('behind a proxy that sets only X-Forwarded-Proto, keeps the Host it passed on', () => {
    expect(proxied.allows('https://chat.example:8443', request({ host: 'chat.example:8443', 'x-forwarded-proto': 'https' }))).toBe(true);
    expect(proxied.allows('https://chat.example', request({ host: 'chat.example', 'x-forwarded-proto': 'https, http' }))).toBe(true);
  });
});
