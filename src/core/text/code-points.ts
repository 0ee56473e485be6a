/**
 * Whether `text` has at most `max` characters, counted as users see them in the limits of the
 * API: Unicode code points (an emoji outside the BMP is one, not two UTF-16 units). A string of
 * at most `max` UTF-16 units passes at once; a longer one is counted without allocating (the
 * `[...text].length` it replaces built an array of every character, on every message sent).
 */
export function atMostCodePoints(text: string, max: number): boolean {
  if (text.length <= max) return true;
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    // A high surrogate followed by a low one is one code point.
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    if (++count > max) return false;
  }
  return true;
}

/** The first `max` code points of `text` (as atMostCodePoints counts them): a cut never splits a surrogate pair. */
export function firstCodePoints(text: string, max: number): string {
  if (text.length <= max) return text;
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    if (count === max) return text.slice(0, i);
    const unit = text.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) i++;
    }
    count++;
  }
  return text;
}
