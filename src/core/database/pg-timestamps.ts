import { types } from 'pg';

const TIMESTAMPTZ_OID = 1184;
const fallback = types.getTypeParser(TIMESTAMPTZ_OID) as (value: string) => Date | number | null;

/** Two ASCII digits at `i` as a number, or NaN. */
function two(s: string, i: number): number {
  const a = s.charCodeAt(i) - 48;
  const b = s.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : NaN;
}

/**
 * `timestamptz` text as Postgres sends it (`2026-11-25 14:05:24.123456+00`, `…+05:30`) to a
 * Date, by position instead of the three regular expressions of pg's parser (a chat list reads
 * hundreds of timestamps; parsing them was ~6% of its CPU). Same arithmetic as pg's parser, so
 * the same Date; anything else (BC, infinity, years below 1000, seconds in the offset) goes to it.
 */
export function parseTimestamptz(s: string): Date | number | null {
  const n = s.length;
  if (n < 22 || s[4] !== '-' || s[7] !== '-' || s[10] !== ' ' || s[13] !== ':' || s[16] !== ':') return fallback(s);
  const year = two(s, 0) * 100 + two(s, 2);
  const month = two(s, 5);
  const day = two(s, 8);
  const hour = two(s, 11);
  const minute = two(s, 14);
  const second = two(s, 17);
  let i = 19;
  let ms = 0;
  if (s[i] === '.') {
    let j = i + 1;
    while (j < n && s.charCodeAt(j) >= 48 && s.charCodeAt(j) <= 57) j++;
    ms = 1000 * parseFloat(s.slice(i, j));
    i = j;
  }
  const sign = s[i];
  if (sign !== '+' && sign !== '-') return fallback(s);
  const offsetHours = two(s, i + 1);
  let offsetMinutes = 0;
  if (n === i + 6 && s[i + 3] === ':') offsetMinutes = two(s, i + 4);
  else if (n !== i + 3) return fallback(s);
  // NaN (a non-digit anywhere) propagates through the sum.
  if (year < 1000 || Number.isNaN(year + month + day + hour + minute + second + offsetHours + offsetMinutes)) return fallback(s);
  const offsetMs = (sign === '-' ? -1 : 1) * (offsetHours * 3600 + offsetMinutes * 60) * 1000;
  return new Date(Date.UTC(year, month - 1, day, hour, minute, second, ms) - offsetMs);
}

/** Installs the parser on `pg` (process-wide; PGlite parses its own results). */
export function installTimestampParser(): void {
  types.setTypeParser(TIMESTAMPTZ_OID, parseTimestamptz);
}

/**
 * A timestamp as PostgreSQL writes it into JSON (`2026-11-30T10:23:30.692123+00:00`, the
 * fraction trimmed or absent) in the wire's ISO form with milliseconds. UTC text is rewritten
 * as text (a page holds hundreds of these, and `new Date(text)` costs microseconds each); any
 * other form goes through Date, which gives the same result (it too keeps the first three
 * digits of the fraction).
 */
export function isoFromJson(value: string): string {
  if (value.length >= 25 && value[4] === '-' && value[10] === 'T' && value.endsWith('+00:00')) {
    const fraction = value.slice(19, -6);
    if (fraction === '' || (fraction[0] === '.' && fraction.length <= 7)) return `${value.slice(0, 19)}.${`${fraction.slice(1)}000`.slice(0, 3)}Z`;
  }
  // A session east of UTC writes the far-future mute in the year 10000, which Date reads only as
  // an expanded year (`+010000-…`). (The server's sessions run in UTC; this is the second guard.)
  return new Date(value[5] === '-' && /^\d{5}-/.test(value) ? `+0${value}` : value).toISOString();
}

/** isoFromJson, passing null through. */
export function isoFromJsonOrNull(value: string | null): string | null {
  return value === null ? null : isoFromJson(value);
}
