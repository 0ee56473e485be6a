import { withSessionOptions } from './data-source';

describe('withSessionOptions', () => {
  it("puts the server's settings last, after the URL's own options and PGOPTIONS, and takes the URL's off it (pg would let them replace ours)", () => {
    expect(withSessionOptions('postgres://u:p%40ss@db:5432/h2v', undefined)).toEqual({ url: 'postgres://u:p%40ss@db:5432/h2v', options: '-c TimeZone=UTC -c jit=off' });
    expect(withSessionOptions('postgres://u@db/h2v?sslmode=require&options=-c%20search_path%3Dh2v', '-c statement_timeout=60000')).toEqual({
      url: 'postgres://u@db/h2v?sslmode=require',
      options: '-c search_path=h2v -c statement_timeout=60000 -c TimeZone=UTC -c jit=off',
    });
    expect(withSessionOptions('postgres://u@db/h2v?options=-c%20TimeZone%3DAsia%2FTokyo', '').options).toBe('-c TimeZone=Asia/Tokyo -c TimeZone=UTC -c jit=off');
  });
});
