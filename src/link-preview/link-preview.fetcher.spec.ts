import * as http from 'node:http';
import { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import type { ResolveHost } from '../core/outbound/host-resolver';
import { OutboundPolicy } from '../core/outbound/outbound-policy';
import { OutboundRefusedError } from '../core/outbound/outbound-refused.error';
import { LinkPreviewFetcher } from './link-preview.fetcher';

/** Every name resolves to loopback, which is refused: nothing in this file can leave the machine. */
const loopbackOnly: ResolveHost = () => Promise.resolve(['127.0.0.1']);

describe('LinkPreviewFetcher against a local server', () => {
  let server: http.Server;
  let base: string;
  const seen: string[] = [];
  let oembedAnswer: { status: number; body: string } = { status: 200, body: '{}' };

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      seen.push(req.url!);
      const path = new URL(req.url!, 'http://x').pathname;
      if (path === '/oembed/youtube' || path === '/oembed/vimeo') {
        res.writeHead(oembedAnswer.status, { 'Content-Type': 'application/json; charset=utf-8' });
        return res.end(oembedAnswer.body);
      }
      if (path === '/cp1251') {
        // "Привет" in windows-1251, declared only by <meta charset>.
        const title = Buffer.from([0xcf, 0xf0, 0xe8, 0xe2, 0xe5, 0xf2]);
        res.writeHead(200, { 'Content-Type': 'text/html' });
        return res.end(Buffer.concat([Buffer.from('<html><head><meta charset="windows-1251"><title>'), title, Buffer.from('</title></head></html>')]));
      }
      if (path === '/gzip') {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Encoding': 'gzip' });
        return res.end(gzipSync('<head><meta property="og:title" content="Compressed ✓"></head>'));
      }
      if (path === '/picture.png') {
        res.writeHead(200, { 'Content-Type': 'image/png' });
        return res.end(Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'));
      }
      if (path === '/data.json') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return res.end('{"title":"not a page"}');
      }
      res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise((resolve) => server.close(resolve)));
  beforeEach(() => (seen.length = 0));

  const fetcher = () => {
    const policy = new OutboundPolicy({ allowHosts: [new URL(base).host], resolve: loopbackOnly });
    return new LinkPreviewFetcher(policy, {
      youtube: { name: 'YouTube', endpoint: `${base}/oembed/youtube` },
      vimeo: { name: 'Vimeo', endpoint: `${base}/oembed/vimeo` },
    });
  };
  const signal = () => AbortSignal.timeout(5_000);

  it('previews a YouTube link from its oEmbed answer, with the maxresdefault thumbnail, without fetching the page', async () => {
    oembedAnswer = { status: 200, body: JSON.stringify({ title: 'A video', author_name: 'A channel', provider_name: 'YouTube', thumbnail_url: 'https://i.ytimg.com/vi/abcdefghijk/hqdefault.jpg' }) };
    await expect(fetcher().preview(new URL('https://youtu.be/abcdefghijk'), signal())).resolves.toEqual({
      title: 'A video',
      description: 'A channel',
      image: 'https://i.ytimg.com/vi/abcdefghijk/maxresdefault.jpg',
      siteName: 'YouTube',
    });
    expect(seen).toEqual([`/oembed/youtube?url=${encodeURIComponent('https://www.youtube.com/watch?v=abcdefghijk')}&format=json`]);
  });

  it('previews a Vimeo link from its oEmbed answer', async () => {
    oembedAnswer = { status: 200, body: JSON.stringify({ title: 'Vimeo video', description: 'About it', provider_name: 'Vimeo', thumbnail_url: 'https://i.vimeocdn.com/video/1-640.jpg' }) };
    await expect(fetcher().preview(new URL('https://vimeo.com/76979871'), signal())).resolves.toEqual({
      title: 'Vimeo video',
      description: 'About it',
      image: 'https://i.vimeocdn.com/video/1-640.jpg',
      siteName: 'Vimeo',
    });
  });

  it('falls back to the page when oEmbed fails, and that page is fetched through the same policy (here refused)', async () => {
    oembedAnswer = { status: 404, body: '{}' };
    const error = await fetcher()
      .preview(new URL('https://www.youtube.com/watch?v=abcdefghijk'), signal())
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OutboundRefusedError);
    expect((error as OutboundRefusedError).reason).toBe('ADDRESS');
  });

  it('decodes a page in the charset its <meta> declares', async () => {
    await expect(fetcher().preview(new URL(`${base}/cp1251`), signal())).resolves.toMatchObject({ title: 'Привет' });
  });

  it('reads a gzip-encoded page', async () => {
    await expect(fetcher().preview(new URL(`${base}/gzip`), signal())).resolves.toMatchObject({ title: 'Compressed ✓' });
  });

  it('previews a link to an image as that image, and anything else but HTML as nothing', async () => {
    await expect(fetcher().preview(new URL(`${base}/picture.png`), signal())).resolves.toEqual({ title: null, description: null, image: `${base}/picture.png`, siteName: null });
    await expect(fetcher().preview(new URL(`${base}/data.json`), signal())).resolves.toEqual({ title: null, description: null, image: null, siteName: null });
  });
});
