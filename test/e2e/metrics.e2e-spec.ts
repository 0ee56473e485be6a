import { connect, openDirect, send } from '../support/chats';
import { TEST_DATABASE_URL, TEST_REDIS_URL } from '../support/env';
import { eventually, signUp } from '../support/factories';
import { metricValue } from '../support/metrics';
import { createTestApp, TestApp, twoInstances } from '../support/test-app';
import { MetricsServer } from '../../src/core/metrics/metrics.server';

const TOKEN = 'metrics-token-for-the-e2e-tests';

describe('GET /metrics', () => {
  describe('not configured (the default)', () => {
    let t: TestApp;
    beforeAll(async () => (t = await createTestApp()));
    afterAll(() => t.close());

    it('is not served: 404 NOT_FOUND like any unknown path, with or without a token', async () => {
      const res = await t.http().get('/metrics').expect(404);
      expect(res.body).toMatchObject({ success: false, code: 'NOT_FOUND' });
      await t.http().get('/metrics').set('Authorization', `Bearer ${TOKEN}`).expect(404);
    });
  });

  describe('with METRICS_TOKEN', () => {
    let t: TestApp;
    beforeAll(async () => (t = await createTestApp({ env: { METRICS_TOKEN: TOKEN } })));
    afterAll(() => t.close());
    const scrape = async () => (await t.http().get('/metrics').set('Authorization', `Bearer ${TOKEN}`).expect(200)).text;

    it('refuses a missing or wrong token, and a session, with 401 UNAUTHORIZED', async () => {
      const user = await signUp(t);
      for (const headers of [{}, { Authorization: `Bearer ${TOKEN}x` }, { Authorization: TOKEN }, user.auth, { Cookie: user.cookie }]) {
        const res = await t.http().get('/metrics').set(headers).expect(401);
        expect(res.body).toMatchObject({ success: false, code: 'UNAUTHORIZED' });
      }
    });

    it('answers the Prometheus text format with HTTP requests by route template and status', async () => {
      const user = await signUp(t);
      await t.http().get('/api/users/me').set(user.auth).expect(200);
      await t.http().get('/api/users/me').expect(401);
      await t.http().get(`/api/users/${user.id}`).set(user.auth).expect(200);
      const res = await t.http().get('/metrics').set('Authorization', `Bearer ${TOKEN}`).expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(res.headers['cache-control']).toBe('no-store');
      const text = res.text;
      expect(metricValue(text, 'h2v_http_requests_total', { method: 'GET', route: '/api/users/me', status: '200' })).toBeGreaterThanOrEqual(1);
      expect(metricValue(text, 'h2v_http_requests_total', { method: 'GET', route: '/api/users/me', status: '401' })).toBeGreaterThanOrEqual(1);
      // A template, never the raw path: ids do not become series.
      expect(metricValue(text, 'h2v_http_requests_total', { route: '/api/users/:id', status: '200' })).toBe(1);
      expect(text).not.toContain(user.id);
      expect(metricValue(text, 'h2v_http_request_duration_seconds_count', { method: 'GET', route: '/api/users/me' })).toBeGreaterThanOrEqual(2);
      expect(text).toContain('nodejs_eventloop_lag_seconds');
      expect(text).toContain('process_resident_memory_bytes');
      if (TEST_DATABASE_URL) {
        expect(metricValue(text, 'h2v_db_pool_connections', { state: 'total' })).toBeGreaterThanOrEqual(1);
        expect(metricValue(text, 'h2v_db_pool_wait_seconds_count')).toBeGreaterThanOrEqual(1);
      }
      expect(text).toMatch(/^h2v_queue_jobs/m);
    });

    it('counts sockets, stored messages, their send latency and the event frames delivered', async () => {
      const [alice, bob] = [await signUp(t), await signUp(t)];
      const chatId = await openDirect(t, alice, bob);
      const before = await scrape();
      const [a, b] = [await connect(t, alice), await connect(t, bob)];
      expect(metricValue(await scrape(), 'h2v_socket_connections')).toBe(metricValue(before, 'h2v_socket_connections') + 2);
      await send(a, chatId, 'counted');
      await b.waitFor('message:new');
      // The acknowledgement leaves with the batch's publication; the handler counts the message
      // when its own await resolves, a moment later.
      const after = await eventually(async () => {
        const text = await scrape();
        expect(metricValue(text, 'h2v_messages_stored_total') - metricValue(before, 'h2v_messages_stored_total')).toBe(1);
        return text;
      });
      expect(metricValue(after, 'h2v_socket_connects_total') - metricValue(before, 'h2v_socket_connects_total')).toBe(2);
      expect(metricValue(after, 'h2v_message_send_duration_seconds_count') - metricValue(before, 'h2v_message_send_duration_seconds_count')).toBe(1);
      // message:new to both sockets; the presence events of the two connects come on top.
      expect(metricValue(after, 'h2v_events_delivered_total') - metricValue(before, 'h2v_events_delivered_total')).toBeGreaterThanOrEqual(2);
      a.close();
      b.close();
      await eventually(async () => expect(metricValue(await scrape(), 'h2v_socket_connections')).toBe(metricValue(before, 'h2v_socket_connections')));
    });
  });

  describe('with METRICS_PORT', () => {
    let t: TestApp;
    beforeAll(async () => (t = await createTestApp({ env: { METRICS_PORT: '0' } })));
    afterAll(() => t.close());

    it('serves the text on its own port without a token, and not on the API port', async () => {
      const port = t.app.get(MetricsServer).port;
      expect(port).toEqual(expect.any(Number));
      const res = await fetch(`http://127.0.0.1:${port}/metrics`);
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/^# HELP h2v_http_requests_total/m);
      expect((await fetch(`http://127.0.0.1:${port}/api/users/me`)).status).toBe(404);
      await t.http().get('/metrics').expect(404);
    });
  });

  (TEST_REDIS_URL ? describe : describe.skip)('two instances', () => {
    const pair = twoInstances({ METRICS_TOKEN: TOKEN });
    const scrape = async (t: TestApp) => (await t.http().get('/metrics').set('Authorization', `Bearer ${TOKEN}`).expect(200)).text;

    it('counts bus messages per instance: published by the sender’s, received and delivered by the other', async () => {
      const [alice, bob] = [await signUp(pair.one), await signUp(pair.one)];
      const chatId = await openDirect(pair.one, alice, bob);
      const a = await connect(pair.one, alice);
      const b = await connect(pair.two, bob);
      const [oneBefore, twoBefore] = [await scrape(pair.one), await scrape(pair.two)];
      await send(a, chatId, 'across instances');
      await b.waitFor('message:new', (m) => m.text === 'across instances');
      const [oneAfter, twoAfter] = [await scrape(pair.one), await scrape(pair.two)];
      const delta = (after: string, before: string, name: string) => metricValue(after, name) - metricValue(before, name);
      expect(delta(oneAfter, oneBefore, 'h2v_bus_frames_published_total')).toBeGreaterThanOrEqual(1);
      expect(delta(twoAfter, twoBefore, 'h2v_bus_frames_received_total')).toBeGreaterThanOrEqual(1);
      expect(delta(twoAfter, twoBefore, 'h2v_events_delivered_total')).toBeGreaterThanOrEqual(1);
      a.close();
      b.close();
    });
  });

  (TEST_REDIS_URL ? describe : describe.skip)('two instances: bus events received and delivered (issue 19)', () => {
    // A pair of its own: the sockets the test above closes announce going offline through the bus.
    const pair = twoInstances({ METRICS_TOKEN: TOKEN });
    const scrape = async (t: TestApp) => (await t.http().get('/metrics').set('Authorization', `Bearer ${TOKEN}`).expect(200)).text;
    const delta = (after: string, before: string, name: string) => metricValue(after, name) - metricValue(before, name);
    const RECEIVED = 'h2v_bus_events_received_total';
    const DELIVERED = 'h2v_bus_events_delivered_total';

    it('counts every record another instance published as received, and as delivered only where a recipient has a socket', async () => {
      const [alice, bob, carol] = [await signUp(pair.one), await signUp(pair.one), await signUp(pair.one)];
      const [toBob, toCarol] = [await openDirect(pair.one, alice, bob), await openDirect(pair.one, alice, carol)];
      const b = await connect(pair.two, bob);
      const a = await connect(pair.one, alice);
      // The first message of a chat reveals it (chat:new, presence): out of the measured windows.
      await send(a, toBob, 'hello bob');
      await send(a, toCarol, 'hello carol');
      // The bus keeps one instance's publications in order: once bob on B has the typing events
      // alice's instance published last, everything it published before has reached B.
      a.send('typing:start', { chatId: toBob });
      await b.waitFor('typing:started', (e) => e.userId === alice.id);
      a.send('typing:stop', { chatId: toBob });
      await b.waitFor('typing:stopped', (e) => e.userId === alice.id);

      // To carol, connected nowhere: no instance holds her, so B receives nothing of it (routed
      // bus); the message to bob that follows is the one record B receives, and delivers.
      let before = await scrape(pair.two);
      await send(a, toCarol, 'nobody on B');
      await send(a, toBob, 'after carol');
      await b.waitFor('message:new', (m) => m.text === 'after carol');
      let after = await scrape(pair.two);
      expect(delta(after, before, RECEIVED)).toBe(1);
      expect(delta(after, before, DELIVERED)).toBe(1);

      // To bob on B, with alice's second socket on B too: message:new (bob and alice's copy) and
      // message:delivered (to alice) are two records, each received and delivered once.
      const a2 = await connect(pair.two, alice);
      before = await scrape(pair.two);
      await send(a, toBob, 'to B');
      await b.waitFor('message:new', (m) => m.text === 'to B');
      await a2.waitFor('message:new', (m) => m.text === 'to B');
      await a2.waitFor('message:delivered');
      after = await scrape(pair.two);
      expect(delta(after, before, RECEIVED)).toBe(2);
      expect(delta(after, before, DELIVERED)).toBe(2);
      a.close();
      a2.close();
      b.close();
    });
  });
});
