import { types } from 'pg';
import { isoFromJson, parseTimestamptz } from './pg-timestamps';

const pgParser = types.getTypeParser(1184) as (value: string) => Date | number | null;

describe('timestamptz parser', () => {
  it('gives the same Date as pg for the text Postgres sends', () => {
    const samples = [
      '2026-11-25 14:05:24.123456+00',
      '2026-11-25 14:05:24+00',
      '2026-11-25 14:05:24.1+00',
      '2026-11-25 14:05:24.999999+00',
      '2026-02-28 23:59:59.5-03',
      '2026-02-28 23:59:59.057+05:30',
      '1999-12-31 23:59:59.000001-09:30',
    ];
    // Random instants with every fractional length: the millisecond arithmetic must match exactly.
    let seed = 42;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 2000; i++) {
      const iso = new Date(Date.UTC(1970 + Math.floor(next() * 100), 0, 1) + Math.floor(next() * 365 * 86400e3)).toISOString();
      const digits = String(Math.floor(next() * 1e6)).padStart(6, '0').slice(0, 1 + Math.floor(next() * 6));
      const offset = ['+00', '-03', '+05:30', '+14', '-11:45'][i % 5];
      samples.push(`${iso.slice(0, 10)} ${iso.slice(11, 19)}.${digits}${offset}`);
    }
    for (const text of samples) expect([text, (parseTimestamptz(text) as Date).getTime()]).toEqual([text, (pgParser(text) as Date).getTime()]);
  });

  it('leaves what it does not recognise to pg', () => {
    for (const text of ['infinity', '-infinity', '0044-03-15 12:00:00+00 BC', '0099-01-01 00:00:00+00', '2026-11-25 14:05:24+00:00:30', '2026-11-25']) {
      expect(String(parseTimestamptz(text))).toEqual(String(pgParser(text)));
    }
  });
});

describe('isoFromJson', () => {
  it('rewrites PostgreSQL JSON timestamps exactly as Date would', () => {
    for (const value of [
      '2026-11-30T10:23:30.692123+00:00',
      '2026-11-30T10:23:30.69+00:00',
      '2026-11-30T10:23:30.6+00:00',
      '2026-11-30T10:23:30.000001+00:00',
      '2026-11-30T10:23:30.999999+00:00',
      '2026-11-30T10:23:30+00:00',
      '9999-12-31T23:59:59+00:00',
      '2026-11-30T10:23:30.692123+05:30',
      '2026-11-30T10:23:30.5-08:00',
      '2026-11-30T10:23:30.692Z',
    ]) {
      expect(isoFromJson(value)).toBe(new Date(value).toISOString());
    }
  });

  it('reads the far-future mute as a session east of UTC writes it, in the year 10000', () => {
    expect(isoFromJson('10000-01-01T08:59:59+09:00')).toBe('9999-12-31T23:59:59.000Z');
  });
});
