import { cleanText, imageUrl, PreviewFields } from './preview-fields';

/** A provider whose oEmbed endpoint answers for its video pages. */
export interface OembedProvider {
  name: 'YouTube' | 'Vimeo';
  /** The endpoint answering `?url=…&format=json`. */
  endpoint: string;
}

export const YOUTUBE: OembedProvider = { name: 'YouTube', endpoint: 'https://www.youtube.com/oembed' };
export const VIMEO: OembedProvider = { name: 'Vimeo', endpoint: 'https://vimeo.com/api/oembed.json' };

/** What to ask an oEmbed endpoint for a page, and what the page is. */
export interface OembedRequest {
  provider: OembedProvider;
  /** The endpoint URL with the page's URL in its query. */
  endpoint: URL;
  /** The 11-character video id of a YouTube page. */
  youtubeId?: string;
}

const YOUTUBE_HOSTS = new Set(['youtube.com', 'www.youtube.com', 'm.youtube.com', 'music.youtube.com', 'youtube-nocookie.com', 'www.youtube-nocookie.com']);
const VIMEO_HOSTS = new Set(['vimeo.com', 'www.vimeo.com', 'player.vimeo.com']);
const YOUTUBE_ID = /^[A-Za-z0-9_-]{11}$/;

/** The video id of a YouTube watch, short, embed, live or youtu.be URL; null for any other URL. */
export function youtubeVideoId(url: URL): string | null {
  const host = url.hostname.toLowerCase();
  const segments = url.pathname.split('/').filter(Boolean);
  let id: string | undefined;
  if (host === 'youtu.be' || host === 'www.youtu.be') id = segments[0];
  else if (YOUTUBE_HOSTS.has(host)) {
    if (segments[0] === 'watch') id = url.searchParams.get('v') ?? undefined;
    else if (['shorts', 'embed', 'live', 'v'].includes(segments[0])) id = segments[1];
  }
  return id && YOUTUBE_ID.test(id) ? id : null;
}

/** The thumbnail the preview shows for a YouTube video; the web client falls back to hqdefault itself. */
export function youtubeThumbnail(id: string): string {
  return `https://i.ytimg.com/vi/${id}/maxresdefault.jpg`;
}

/** The canonical page of a Vimeo video URL (vimeo.com/…/<id>, player.vimeo.com/video/<id>); null for other URLs. */
function vimeoPage(url: URL): string | null {
  const host = url.hostname.toLowerCase();
  if (!VIMEO_HOSTS.has(host)) return null;
  const segments = url.pathname.split('/').filter(Boolean);
  if (host === 'player.vimeo.com') return segments[0] === 'video' && /^\d+$/.test(segments[1] ?? '') ? `https://vimeo.com/${segments[1]}` : null;
  return segments.some((segment) => /^\d+$/.test(segment)) ? url.href : null;
}

/**
 * The oEmbed request for a YouTube or Vimeo video page, or null when the URL is not one.
 * `providers` lets a unit test point the endpoints elsewhere; production uses the real ones.
 */
export function oembedRequestFor(url: URL, providers = { youtube: YOUTUBE, vimeo: VIMEO }): OembedRequest | null {
  const youtubeId = youtubeVideoId(url);
  if (youtubeId) {
    const endpoint = new URL(providers.youtube.endpoint);
    endpoint.searchParams.set('url', `https://www.youtube.com/watch?v=${youtubeId}`);
    endpoint.searchParams.set('format', 'json');
    return { provider: providers.youtube, endpoint, youtubeId };
  }
  const vimeo = vimeoPage(url);
  if (vimeo) {
    const endpoint = new URL(providers.vimeo.endpoint);
    endpoint.searchParams.set('url', vimeo);
    return { provider: providers.vimeo, endpoint };
  }
  return null;
}

/**
 * The preview fields of an oEmbed answer: its title, the description (Vimeo) or the author's
 * name (YouTube, which has no description), the provider's name, and for YouTube the
 * `maxresdefault` thumbnail. Null when the answer is not an oEmbed object with a title.
 */
export function previewFromOembed(request: OembedRequest, json: unknown): PreviewFields | null {
  if (!json || typeof json !== 'object' || Array.isArray(json)) return null;
  const answer = json as Record<string, unknown>;
  const title = cleanText(answer.title, 'title');
  if (!title) return null;
  const thumbnail = request.youtubeId ? youtubeThumbnail(request.youtubeId) : imageUrl(answer.thumbnail_url, request.endpoint);
  return {
    title,
    description: cleanText(answer.description, 'description') ?? cleanText(answer.author_name, 'description'),
    image: thumbnail,
    siteName: cleanText(answer.provider_name, 'siteName') ?? request.provider.name,
  };
}
