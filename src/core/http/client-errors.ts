import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { ERROR_CODES, ErrorCode } from '../errors';

/** How long a refused client has to take its answer before its connection is dropped. */
const ANSWER_GRACE_MS = 1_000;

/**
 * A request Node's HTTP parser refuses before any route sees it (a malformed request line or
 * header, headers past 16 KB, headers that did not arrive within HTTP_HEADERS_TIMEOUT_MS) is
 * answered in the envelope like every other error, instead of Node's bare status line, and its
 * connection destroyed, both halves: what follows on it cannot be read as a request.
 */
export function answerClientErrors(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex & { _httpMessage?: { headersSent?: boolean } }) => {
    // Gone, or an answer already under way on it: nothing can be said any more.
    if (error.code === 'ECONNRESET' || !socket.writable || socket._httpMessage?.headersSent) return void socket.destroy();
    const code: ErrorCode = error.code === 'HPE_HEADER_OVERFLOW' ? 'HEADERS_TOO_LARGE' : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'REQUEST_TIMEOUT' : 'BAD_REQUEST';
    const { status, message } = ERROR_CODES[code];
    const body = JSON.stringify({ success: false, code, message });
    // Written, then the connection is gone: end() alone would leave the client's half open for as
    // long as it likes (a trickler keeping its file descriptor, a body still read past the request
    // timeout). A client that does not read the answer gets a second.
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n${body}`,
      () => socket.destroy(),
    );
    setTimeout(() => socket.destroy(), ANSWER_GRACE_MS).unref();
  });
}
