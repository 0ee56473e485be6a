import type { Request, Response } from 'express';
import type { Server } from 'node:http';
import type { HttpTimeouts } from '../config/env.schema';
import { AppError } from '../errors';
import { sendJson } from './json-response';

/**
 * Bounds how long a client may take to send a request, so a trickle cannot hold a connection.
 * - Node's `headersTimeout` (HTTP_HEADERS_TIMEOUT_MS, 10 s) for the request line and headers;
 *   checked every second instead of Node's default 30 s.
 * - A body must keep up with HTTP_BODY_MIN_RATE (4 KiB/s) after a grace of HTTP_BODY_TIMEOUT_MS
 *   (10 s): byte n is due at `grace + n / rate`; a body that falls behind is answered 408
 *   REQUEST_TIMEOUT and its connection closed. A 1-byte-every-5-s body goes at 10 s; a steady
 *   body above 32 kbit/s is never cut by this rule.
 * - Node's `requestTimeout` (HTTP_REQUEST_TIMEOUT_MS, 10 min) caps a whole request whatever its
 *   pace; it is what bounds a big upload: 100 MB needs about 1.4 Mbit/s to fit.
 * A WebSocket is not affected: once upgraded its connection leaves Node's HTTP timeouts, and the
 * upgrade never passes through Express.
 *
 * It also sets how long an idle keep-alive connection stays open (HTTP_KEEPALIVE_TIMEOUT_MS,
 * 65 s). Node's default, 5 s, is below every load balancer's reuse of idle upstream connections
 * (ALB 60 s, ingress-nginx 60 s, GCP 600 s): a request the balancer writes as the server drops
 * the connection is answered 502 to its client. On Node 20 the headers timeout counts from a
 * request's first byte, not from the start of the idle time, so a long keep-alive does not shorten it.
 */
export function limitSlowClients(server: Server, timeouts: HttpTimeouts): (req: Request, res: Response) => void {
  server.headersTimeout = timeouts.headersTimeoutMs;
  server.keepAliveTimeout = timeouts.keepAliveTimeoutMs;
  server.requestTimeout = timeouts.requestTimeoutMs;
  // Read by Node when the server starts listening, which is after this runs.
  (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval = Math.min(1_000, timeouts.headersTimeoutMs);
  // A request without a body (most GETs) has nothing left to trickle: the pipeline calls this for bodies only.
  return (req, res) => {
    if (!req.complete) watchBody(req, res, timeouts);
  };
}

function watchBody(req: Request, res: Response, { bodyTimeoutMs, bodyMinBytesPerSecond }: HttpTimeouts): void {
  const startedAt = Date.now();
  // Counts the body as Node's parser hands it to the request, read by anyone yet or not: a 'data'
  // listener would start the flow before the body parser (or multer, after the guards) listens.
  let received = 0;
  const push = req.push;
  req.push = ((chunk: Buffer | null, encoding?: BufferEncoding) => {
    if (chunk) received += chunk.length;
    return push.call(req, chunk, encoding);
  }) as typeof req.push;
  let timer: NodeJS.Timeout;
  const check = () => {
    if (req.complete || req.socket.destroyed) return;
    const dueAt = startedAt + bodyTimeoutMs + (received * 1000) / bodyMinBytesPerSecond;
    if (Date.now() < dueAt) {
      timer = setTimeout(check, dueAt - Date.now()).unref();
      return;
    }
    drop(req, res);
  };
  timer = setTimeout(check, bodyTimeoutMs).unref();
  const stop = () => clearTimeout(timer);
  req.once('end', stop);
  req.once('close', stop);
}

/** Answers 408 when nothing was answered yet, then closes the connection: the rest of the body will never be read. */
function drop(req: Request, res: Response): void {
  if (res.headersSent) {
    req.socket.destroy();
    return;
  }
  res.setHeader('Connection', 'close');
  sendJson(res, 408, new AppError('REQUEST_TIMEOUT', 'The request body arrived too slowly').toBody());
  res.once('finish', () => req.socket.destroy());
}
