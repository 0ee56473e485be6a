import { randomUUID } from 'node:crypto';
import { signUp } from '../support/factories';
import { createTestApp, TestApp } from '../support/test-app';

/**
 * What the logs never hold, read at debug level (the level outside production). Log capture needs
 * the first app of its file (the process keeps the first app's logger).
 */
describe('logs', () => {
  let t: TestApp;
  beforeAll(async () => (t = await createTestApp({ captureLogs: true })));
  afterAll(() => t.close());

  it("name where a link preview or a proxied image was fetched from, never the link's path or query (links in messages carry capabilities)", async () => {
    const user = await signUp(t);
    const secret = `zz${randomUUID().replace(/-/g, '')}`;
    // Loopback: refused by the outbound rules, and logged at debug as a failed fetch.
    expect((await t.http().get('/api/link-preview/proxy').query({ url: `http://127.0.0.1:9/x.png?token=${secret}` }).set(user.auth)).status).toBe(403);
    expect((await t.http().get('/api/link-preview').query({ url: `http://127.0.0.1:9/reset/${secret}` }).set(user.auth)).status).toBe(200);
    const fetches = t.logs.filter((line) => line.includes('http://127.0.0.1:9'));
    expect(fetches.map((line) => (JSON.parse(line) as { msg: string }).msg.split(':').slice(0, 3).join(':'))).toEqual(['proxy http://127.0.0.1:9', 'preview http://127.0.0.1:9']);
    expect(t.logs.join('\n')).not.toContain(secret);
  });
});
