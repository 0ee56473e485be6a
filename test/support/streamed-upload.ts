import { createHash, randomBytes } from 'node:crypto';
import { get, request } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** A multipart upload whose file part is generated while it is sent: a 100 MB body never sits in the test's memory. */
export interface StreamedUpload {
  /** The answer; null when the connection ended without one (the test hung up). */
  response: Promise<{ status: number; body: any } | null>;
  /** Bytes of the file part sent so far. */
  sent(): number;
  /** SHA-256 (hex) of the file part, once it has all been sent. */
  digest(): string;
  /** Hangs up mid-body, as a browser tab closed during an upload does. */
  abort(): void;
}

const CHUNK = 64 * 1024;

/**
 * POSTs one `file` part of `size` bytes (a random 64 KiB block, repeated) to `url`. With
 * `holdAt`, the body stops after that many file bytes until `abort()`.
 */
export function streamUpload(url: string, headers: Record<string, string>, options: { size: number; filename: string; holdAt?: number }): StreamedUpload {
  const boundary = `h2v-${randomBytes(12).toString('hex')}`;
  const head = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${options.filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const block = randomBytes(CHUNK);
  const hash = createHash('sha256');
  let sent = 0;
  let release = () => undefined as void;
  const held = new Promise<void>((resolve) => (release = resolve));

  async function* body(): AsyncGenerator<Buffer> {
    yield head;
    while (sent < options.size) {
      if (options.holdAt !== undefined && sent >= options.holdAt) await held;
      const piece = block.subarray(0, Math.min(CHUNK, options.size - sent));
      hash.update(piece);
      sent += piece.length;
      yield piece;
    }
    yield tail;
  }

  const req = request(url, {
    method: 'POST',
    headers: { ...headers, 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': String(head.length + options.size + tail.length) },
  });
  const response = new Promise<{ status: number; body: any } | null>((resolve) => {
    let answered = false;
    req.once('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('end', () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null') }));
      res.once('error', () => resolve(null));
    });
    req.once('close', () => answered || resolve(null));
  });
  // A refused or aborted body ends the pipeline with an error; the answer (or its absence) is what counts.
  pipeline(Readable.from(body()), req).catch(() => undefined);
  return {
    response,
    sent: () => sent,
    digest: () => hash.copy().digest('hex'),
    abort: () => {
      req.destroy();
      release();
    },
  };
}

/** SHA-256 (hex) and length of what a GET of `url` answers, read as a stream. */
export function fetchDigest(url: string): Promise<{ status: number; size: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      const hash = createHash('sha256');
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        hash.update(chunk);
      });
      res.once('end', () => resolve({ status: res.statusCode!, size, sha256: hash.digest('hex') }));
      res.once('error', reject);
    }).once('error', reject);
  });
}
