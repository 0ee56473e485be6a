import * as http from 'node:http';
import * as https from 'node:https';
import { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { OutboundPolicy } from '../core/outbound/outbound-policy';

/** Redirects followed before giving up (each hop is checked like the first URL). */
export const MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const USER_AGENT = 'Mozilla/5.0 (compatible; H2V-LinkPreview/1.0)';

/** The remote server answered, but not with what was asked for (status, redirects, body size). */
export class UpstreamError extends Error {
  constructor(
    message: string,
    readonly kind: 'STATUS' | 'REDIRECTS' | 'TOO_LARGE' = 'STATUS',
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

export interface RemoteResponse {
  /** The URL that answered, after redirects. */
  url: URL;
  response: http.IncomingMessage;
  /** The media type without parameters, lower case ('' when absent). */
  mediaType: string;
  /** The `charset` parameter of Content-Type, if any. */
  charset: string | undefined;
}

/**
 * GET of a URL a user chose, through OutboundPolicy: redirects are followed by hand, at most
 * MAX_REDIRECTS, and every hop's URL is checked again before its request (the agents also check
 * the address each connection goes to). Resolves with the first non-redirect 2xx response, its
 * body unread; rejects with OutboundRefusedError, UpstreamError, or the network error.
 * `signal` bounds the whole exchange, host name resolutions and body included.
 */
export async function fetchRemote(policy: OutboundPolicy, input: URL, options: { accept: string; signal: AbortSignal; compressed?: boolean }): Promise<RemoteResponse> {
  let url = input;
  for (let hop = 0; ; hop++) {
    url = await policy.check(url, options.signal);
    options.signal.throwIfAborted();
    const response = await get(policy, url, options);
    const status = response.statusCode ?? 0;
    const location = response.headers.location;
    if (REDIRECT_STATUSES.has(status) && location) {
      response.destroy();
      if (hop >= MAX_REDIRECTS) throw new UpstreamError(`More than ${MAX_REDIRECTS} redirects`, 'REDIRECTS');
      try {
        url = new URL(location, url);
      } catch {
        throw new UpstreamError('Redirect to an invalid URL');
      }
      continue;
    }
    if (status < 200 || status > 299) {
      response.destroy();
      throw new UpstreamError(`Answered ${status}`);
    }
    const [mediaType, ...parameters] = (response.headers['content-type'] ?? '').split(';');
    const charset = parameters.map((p) => p.trim().split('=')).find(([key]) => key?.toLowerCase() === 'charset')?.[1]?.replace(/^"|"$/g, '');
    return { url, response, mediaType: mediaType.trim().toLowerCase(), charset };
  }
}

function get(policy: OutboundPolicy, url: URL, options: { accept: string; signal: AbortSignal; compressed?: boolean }): Promise<http.IncomingMessage> {
  return new Promise((resolve, reject) => {
    const client = url.protocol === 'https:' ? https : http;
    const request = client.request(
      url,
      {
        method: 'GET',
        agent: policy.agentFor(url),
        signal: options.signal,
        headers: { 'User-Agent': USER_AGENT, Accept: options.accept, 'Accept-Encoding': options.compressed ? 'gzip, deflate, br' : 'identity' },
      },
      resolve,
    );
    request.on('error', reject);
    request.end();
  });
}

/** The response body with any Content-Encoding undone (gzip, deflate, br); other encodings are refused. */
export function decodedBody(response: http.IncomingMessage): Readable {
  const encoding = String(response.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  const decoder =
    encoding === 'gzip' || encoding === 'x-gzip' ? createGunzip() : encoding === 'deflate' ? createInflate() : encoding === 'br' ? createBrotliDecompress() : null;
  if (encoding === 'identity' || encoding === '') return response;
  if (!decoder) {
    response.destroy();
    throw new UpstreamError(`Unsupported Content-Encoding ${encoding}`);
  }
  response.on('error', (error) => decoder.destroy(error));
  decoder.on('close', () => response.destroy());
  return response.pipe(decoder);
}

/**
 * Reads a body into memory up to `maxBytes`, for small documents (oEmbed JSON): more than that
 * is an UpstreamError and the connection is closed.
 */
export async function readSmallBody(body: Readable, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      size += (chunk as Buffer).length;
      if (size > maxBytes) throw new UpstreamError(`Body over ${maxBytes} bytes`, 'TOO_LARGE');
      chunks.push(chunk as Buffer);
    }
  } finally {
    body.destroy();
  }
  return Buffer.concat(chunks);
}
