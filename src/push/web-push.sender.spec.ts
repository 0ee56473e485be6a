import { MAX_RETRY_AFTER_MS, retryAfterMs } from './web-push.sender';

describe('retryAfterMs', () => {
  const now = Date.parse('2026-11-30T12:00:00Z');

  it('reads delay-seconds and HTTP dates', () => {
    expect(retryAfterMs('30', now)).toBe(30_000);
    expect(retryAfterMs(' 0 ', now)).toBe(0);
    expect(retryAfterMs('Mon, 30 Nov 2026 12:01:00 GMT', now)).toBe(60_000);
  });

  it('caps a long wait, clamps a past date to now, and ignores what it cannot read', () => {
    expect(retryAfterMs('86400', now)).toBe(MAX_RETRY_AFTER_MS);
    expect(retryAfterMs('Mon, 30 Nov 2026 11:00:00 GMT', now)).toBe(0);
    expect([undefined, '', 'soon', '-5', '1.5'].map((h) => retryAfterMs(h, now))).toEqual([null, null, null, null, null]);
  });
});
