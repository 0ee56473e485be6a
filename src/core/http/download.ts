import type { LoggerService } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../errors';

/** A file produced while it is sent. */
export interface Download {
  /** ASCII, no quotes: it goes into Content-Disposition as it is. */
  filename: string;
  contentType: string;
  headers?: Record<string, string>;
  chunks: AsyncIterable<string>;
}

/** Pieces buffered ahead of the socket before the producer is paused (the socket itself holds 16 KiB more). */
const BUFFERED_PIECES = 4;

/**
 * Sends a file as an attachment while it is produced, at the pace the client reads it.
 *
 * - The first piece is produced before anything is sent: a failure there (or in the checks the
 *   producer makes before its first piece) rejects, and the caller's error answer (the envelope)
 *   can still go out.
 * - After that, pieces are pulled only while fewer than BUFFERED_PIECES wait for the socket
 *   (stream.pipeline honours `write()` returning false), so memory holds a few pieces whatever
 *   the file's size.
 * - A client that goes away ends the pipeline: the producer's iterator is returned, so it reads
 *   nothing more (a read in flight finishes and is dropped).
 * - A failure after the headers went out destroys the connection (no final chunk), so the client
 *   sees a broken transfer and never a truncated file that looks complete; it is logged.
 *
 * Resolves when the file was sent or the transfer ended; never rejects after the headers went out.
 */
export async function sendDownload(res: ServerResponse, download: Download, logger: LoggerService): Promise<void> {
  const iterator = download.chunks[Symbol.asyncIterator]();
  const first = await iterator.next();
  res.statusCode = 200;
  res.setHeader('Content-Type', download.contentType);
  res.setHeader('Content-Disposition', `attachment; filename="${download.filename}"`);
  for (const [name, value] of Object.entries(download.headers ?? {})) res.setHeader(name, value);
  // Strings go to the socket as they are (no Buffer copy of each piece): object mode, counted in pieces.
  const body = Readable.from(continued(first, iterator), { objectMode: true, highWaterMark: BUFFERED_PIECES });
  try {
    await pipeline(body, res);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_STREAM_PREMATURE_CLOSE') {
      logger.debug?.(`download of ${download.filename} stopped: the client went away`);
      return;
    }
    // A refusal (AppError: the reader's session ended) is the producer's answer, not a fault.
    if (error instanceof AppError) logger.warn(`download of ${download.filename} refused after it started (${error.code}: ${error.message}); connection cut`);
    else logger.error(`download of ${download.filename} failed after it started; connection cut`, (error as Error).stack);
    res.destroy();
  }
}

/** The pieces from `first` on, empty ones left out (nothing to write); returning it returns `rest`. */
async function* continued(first: IteratorResult<string>, rest: AsyncIterator<string>): AsyncGenerator<string> {
  if (first.done) return;
  if (first.value) yield first.value;
  try {
    for (let next = await rest.next(); !next.done; next = await rest.next()) if (next.value) yield next.value;
  } finally {
    await rest.return?.();
  }
}
