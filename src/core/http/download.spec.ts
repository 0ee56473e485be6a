import type { LoggerService } from '@nestjs/common';
import { createServer, get, IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Download, sendDownload } from './download';

/** A producer that yields `piece` forever and tells how far it got and whether it was closed. */
function endless(piece: string) {
  const state = { pulls: 0, closed: false };
  async function* chunks(): AsyncGenerator<string> {
    try {
      for (;;) {
        state.pulls++;
        await sleep(0);
        yield piece;
      }
    } finally {
      state.closed = true;
    }
  }
  return { state, chunks: chunks() };
}

/** An HTTP server whose one route sends `download()`; resolves its URL, the outcome of sendDownload, and the logger's lines. */
async function serve(download: () => Download) {
  const errors: string[] = [];
  const logger: LoggerService = { log: () => undefined, warn: () => undefined, debug: () => undefined, error: (message: string) => errors.push(message) };
  const outcomes: Array<Promise<'sent' | { rejected: unknown; headersSent: boolean }>> = [];
  const server: Server = createServer((req, res) => {
    outcomes.push(
      sendDownload(res, download(), logger).then(
        () => 'sent' as const,
        (rejected: unknown) => {
          const headersSent = res.headersSent;
          res.statusCode = 500;
          res.end('refused');
          return { rejected, headersSent };
        },
      ),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return { url, errors, outcome: () => outcomes[0], close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const request = (url: string) => new Promise<IncomingMessage>((resolve, reject) => get(url, resolve).once('error', reject));

/** How a response ended: 'end' (complete) or 'broken' (the connection went before the last chunk). */
function ending(res: IncomingMessage): Promise<{ how: 'end' | 'broken'; body: string }> {
  let body = '';
  res.setEncoding('utf8');
  return new Promise((resolve) => {
    res.on('data', (chunk: string) => (body += chunk));
    res.once('end', () => resolve({ how: 'end', body }));
    res.once('aborted', () => resolve({ how: 'broken', body }));
    res.once('error', () => resolve({ how: 'broken', body }));
  });
}

describe('sendDownload', () => {
  it('sends the pieces as an attachment with its headers, empty pieces and all', async () => {
    async function* chunks() {
      yield '{"a":';
      yield '';
      yield '1}';
      yield '';
    }
    const server = await serve(() => ({ filename: 'x-2026-01-01.json', contentType: 'application/json; charset=utf-8', headers: { 'X-Extra': 'yes' }, chunks: chunks() }));
    try {
      const res = await request(server.url);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(res.headers['content-disposition']).toBe('attachment; filename="x-2026-01-01.json"');
      expect(res.headers['x-extra']).toBe('yes');
      expect(await ending(res)).toEqual({ how: 'end', body: '{"a":1}' });
      expect(await server.outcome()).toBe('sent');
    } finally {
      await server.close();
    }
  });

  it('rejects before anything is sent when the first piece fails, so an error answer can still go out', async () => {
    async function* chunks(): AsyncGenerator<string> {
      throw new Error('checks failed');
    }
    const server = await serve(() => ({ filename: 'x.json', contentType: 'application/json', chunks: chunks() }));
    try {
      const res = await request(server.url);
      expect(res.statusCode).toBe(500);
      expect(await ending(res)).toEqual({ how: 'end', body: 'refused' });
      expect(await server.outcome()).toEqual({ rejected: expect.objectContaining({ message: 'checks failed' }), headersSent: false });
    } finally {
      await server.close();
    }
  });

  it('cuts the connection when a later piece fails: the client sees a broken transfer, not a complete file, and it is logged', async () => {
    async function* chunks(): AsyncGenerator<string> {
      yield '<html><body>';
      yield 'first page';
      await sleep(0);
      throw new Error('database went away');
    }
    const server = await serve(() => ({ filename: 'x.html', contentType: 'text/html', chunks: chunks() }));
    try {
      const res = await request(server.url);
      expect(res.statusCode).toBe(200);
      expect((await ending(res)).how).toBe('broken');
      expect(await server.outcome()).toBe('sent');
      expect(server.errors).toEqual([expect.stringContaining('x.html failed after it started')]);
    } finally {
      await server.close();
    }
  });

  it('stops pulling pieces while the client reads nothing, and stops the producer for good when the client goes away', async () => {
    const piece = 'x'.repeat(64 * 1024);
    const producer = endless(piece);
    const server = await serve(() => ({ filename: 'big.json', contentType: 'application/json', chunks: producer.chunks }));
    try {
      const res = await request(server.url);
      res.pause();
      // Left alone, an unpaced producer would make gigabytes here; paced, it stops once the socket
      // buffers are full (a few MB on loopback).
      await sleep(500);
      const pulledWhilePaused = producer.state.pulls;
      expect(pulledWhilePaused * piece.length).toBeLessThan(32 * 1024 * 1024);
      const pullsAtDestroy = producer.state.pulls;
      res.destroy();
      expect(await server.outcome()).toBe('sent');
      // The producer is returned at its next yield: a piece in the making may still come, nothing after it.
      for (let waited = 0; !producer.state.closed && waited < 5_000; waited += 10) await sleep(10);
      expect(producer.state.closed).toBe(true);
      expect(producer.state.pulls).toBeLessThanOrEqual(pullsAtDestroy + 1);
      const pulls = producer.state.pulls;
      await sleep(50);
      expect(producer.state.pulls).toBe(pulls);
      expect(server.errors).toEqual([]);
    } finally {
      await server.close();
    }
  });
});
