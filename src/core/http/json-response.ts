import type { ServerResponse } from 'node:http';

/** The Content-Type of every JSON answer, as Express's `res.json()` writes it. */
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/**
 * Answers `body` as JSON in one `res.end()`. What `res.status(status).json(body)` does for our
 * answers (no ETag, no JSONP, no replacer, no preset Content-Type), without Express's
 * `res.json` → `res.send` path: its header reads, charset parsing and freshness check cost more
 * per request than serialising a small body. 204 and 304 carry no body, as in Express.
 */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.statusCode = status;
  if (status === 204 || status === 304) {
    res.end();
    return;
  }
  const json = JSON.stringify(body);
  res.setHeader('Content-Type', JSON_CONTENT_TYPE);
  res.setHeader('Content-Length', Buffer.byteLength(json));
  res.end(json);
}
