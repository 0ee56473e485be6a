import { getEncoding } from 'encoding-sniffer';
import { Readable } from 'node:stream';
import { TextDecoder } from 'node:util';
import { OutboundPolicy } from '../core/outbound/outbound-policy';
import { oembedRequestFor, OembedProvider, previewFromOembed, VIMEO, YOUTUBE, youtubeThumbnail } from './oembed';
import { PageMetadataCollector } from './page-metadata';
import { EMPTY_PREVIEW, imageUrl, PreviewFields } from './preview-fields';
import { decodedBody, fetchRemote, readSmallBody } from './remote-fetch';

/** At most this much HTML is read (decompressed) from a page. */
export const MAX_HTML_BYTES = 1024 * 1024;
/** An oEmbed answer is a small JSON object. */
const MAX_OEMBED_BYTES = 64 * 1024;
/** Bytes the encoding sniffer looks at before decoding starts (the WHATWG prescan length). */
const SNIFF_BYTES = 1024;

const HTML_TYPES = new Set(['text/html', 'application/xhtml+xml']);
const JSON_TYPES = new Set(['application/json', 'text/json', 'text/javascript', 'application/javascript']);

/**
 * Builds the preview of one URL: oEmbed for YouTube and Vimeo videos, else the page's Open
 * Graph, Twitter card and `<title>` tags; a URL that is itself an image previews as that image.
 * Every request goes through fetchRemote (OutboundPolicy checks, manual redirects). Throws on
 * any failure (refused address, network, status, timeout); the caller turns that into nulls.
 */
export class LinkPreviewFetcher {
  constructor(
    private readonly policy: OutboundPolicy,
    private readonly providers: { youtube: OembedProvider; vimeo: OembedProvider } = { youtube: YOUTUBE, vimeo: VIMEO },
  ) {}

  async preview(url: URL, signal: AbortSignal): Promise<PreviewFields> {
    const oembed = oembedRequestFor(url, this.providers);
    if (oembed) {
      const fields = await this.oembed(oembed.endpoint, signal)
        .then((json) => previewFromOembed(oembed, json))
        .catch(() => null);
      if (fields) return fields;
    }
    const page = await this.page(url, signal);
    // The page of a YouTube video whose oEmbed failed: still the thumbnail the client expects.
    return oembed?.youtubeId ? { ...page, image: youtubeThumbnail(oembed.youtubeId) } : page;
  }

  private async oembed(endpoint: URL, signal: AbortSignal): Promise<unknown> {
    const remote = await fetchRemote(this.policy, endpoint, { accept: 'application/json', signal, compressed: true });
    if (!JSON_TYPES.has(remote.mediaType)) {
      remote.response.destroy();
      return null;
    }
    return JSON.parse((await readSmallBody(decodedBody(remote.response), MAX_OEMBED_BYTES)).toString('utf8'));
  }

  private async page(url: URL, signal: AbortSignal): Promise<PreviewFields> {
    const remote = await fetchRemote(this.policy, url, { accept: 'text/html,application/xhtml+xml;q=0.9,image/*;q=0.5,*/*;q=0.1', signal, compressed: true });
    if (remote.mediaType.startsWith('image/')) {
      remote.response.destroy();
      return { ...EMPTY_PREVIEW, image: imageUrl(remote.url.href, remote.url) };
    }
    if (!HTML_TYPES.has(remote.mediaType)) {
      remote.response.destroy();
      return { ...EMPTY_PREVIEW };
    }
    const collector = new PageMetadataCollector();
    await readHtml(decodedBody(remote.response), remote.charset, collector);
    return collector.fields(remote.url);
  }
}

/**
 * Feeds at most MAX_HTML_BYTES of a page into the collector, decoding with the charset the
 * HTML encoding sniffer settles on (BOM, then the HTTP charset, then a `<meta charset>` in the
 * first 1024 bytes, then windows-1252, as browsers do). Stops reading, and closes the
 * connection, once the collector has seen the end of `<head>`.
 */
async function readHtml(body: Readable, httpCharset: string | undefined, collector: PageMetadataCollector): Promise<void> {
  let decoder: TextDecoder | null = null;
  const pending: Buffer[] = [];
  let pendingBytes = 0;
  let total = 0;
  const feed = (bytes: Uint8Array, final: boolean) => collector.write(decoder!.decode(bytes, { stream: !final }));
  const startDecoding = () => {
    const head = Buffer.concat(pending);
    decoder = textDecoder(getEncoding(head, { transportLayerEncodingLabel: httpCharset, maxBytes: SNIFF_BYTES }));
    feed(head, false);
  };
  try {
    for await (const chunk of body) {
      let bytes = chunk as Buffer;
      if (total + bytes.length > MAX_HTML_BYTES) bytes = bytes.subarray(0, MAX_HTML_BYTES - total);
      total += bytes.length;
      if (decoder) feed(bytes, false);
      else {
        pending.push(bytes);
        pendingBytes += bytes.length;
        if (pendingBytes >= SNIFF_BYTES) startDecoding();
      }
      if (collector.done || total >= MAX_HTML_BYTES) break;
    }
    if (!decoder) startDecoding();
    feed(new Uint8Array(0), true);
    collector.end();
  } finally {
    body.destroy();
  }
}

function textDecoder(encoding: string): TextDecoder {
  try {
    return new TextDecoder(encoding);
  } catch {
    return new TextDecoder('utf-8');
  }
}
