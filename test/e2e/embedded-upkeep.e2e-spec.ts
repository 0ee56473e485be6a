import { EmbeddedVacuum } from '../../src/core/database/embedded-vacuum';
import { TEST_DATABASE_URL } from '../support/env';
import { createTestApp, TestApp } from '../support/test-app';

/** The embedded database's own upkeep: PGlite runs no autovacuum (PostgreSQL has its own, so this suite is the embedded run's). */
(TEST_DATABASE_URL ? describe.skip : describe)('embedded database upkeep', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp()));
  afterAll(() => t.close());

  // Counters reach pg_stat_user_tables at most once a second unless flushed.
  const stats = async () => {
    await t.backend.sql(`SELECT pg_stat_force_next_flush()`, []);
    await t.backend.sql(`SELECT 1`, []);
    return (await t.backend.sql(`SELECT n_dead_tup::int AS dead, last_vacuum IS NOT NULL AS vacuumed, last_analyze IS NOT NULL AS analysed FROM pg_stat_user_tables WHERE relname = 'otp_codes'`, []))[0];
  };

  it('vacuums and analyses the tables whose dead rows autovacuum would have reclaimed, and leaves the rest', async () => {
    // What sign-ins leave behind: a code stored and deleted, a thousand times.
    await t.backend.sql(
      `INSERT INTO otp_codes (email, code_hash, sent_at, expires_at) SELECT 'churn' || i || '@example.com', 'x', now(), now() FROM generate_series(1, 1000) i`,
      [],
    );
    await t.backend.sql(`DELETE FROM otp_codes WHERE email LIKE 'churn%'`, []);
    expect((await stats()).dead).toBeGreaterThanOrEqual(1000);

    expect(await t.app.get(EmbeddedVacuum).run()).toBeGreaterThanOrEqual(1);
    expect(await stats()).toEqual({ dead: 0, vacuumed: true, analysed: true });
    // Nothing is due right after.
    expect(await t.app.get(EmbeddedVacuum).run()).toBe(0);
  });
});
