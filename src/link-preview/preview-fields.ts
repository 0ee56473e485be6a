/** What a link preview says about a page (wire-contract-v2.2 §10), without the URL asked for. */
export interface PreviewFields {
  title: string | null;
  description: string | null;
  /** Absolute http(s) URL of the remote image; clients load it through /api/link-preview/proxy. */
  image: string | null;
  siteName: string | null;
}

export const EMPTY_PREVIEW: Readonly<PreviewFields> = Object.freeze({ title: null, description: null, image: null, siteName: null });

/** Longest strings kept: a card shows a line or two of each. */
const MAX_LENGTH = { title: 300, description: 1000, siteName: 120 } as const;
const MAX_IMAGE_URL_LENGTH = 2048;

/** Collapses whitespace, drops control characters, cuts to the field's length; null when nothing is left. */
export function cleanText(value: unknown, field: keyof typeof MAX_LENGTH): string | null {
  if (typeof value !== 'string') return null;
  // eslint-disable-next-line no-control-regex
  const text = value.replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\s+/g, ' ').trim();
  if (!text) return null;
  const chars = [...text];
  return chars.length > MAX_LENGTH[field] ? `${chars.slice(0, MAX_LENGTH[field] - 1).join('')}…` : text;
}

/** An image reference resolved against the page, kept only as an absolute http(s) URL of sane length. */
export function imageUrl(value: unknown, base: URL | string): string | null {
  if (typeof value !== 'string' || !value.trim()) return null;
  try {
    const url = new URL(value.trim(), base);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    return url.href.length <= MAX_IMAGE_URL_LENGTH ? url.href : null;
  } catch {
    return null;
  }
}
