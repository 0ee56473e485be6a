import type { BenchUser } from '../fixtures';
import type { HttpJob, HttpResult } from '../load/http-load';
import { api, expectOk, RouteMissing } from '../lib/api';
import { Bench } from '../lib/context';
import { measureCpu } from '../lib/cpu';
import { Latency, latencyOf, mergeHistograms } from '../lib/histogram';
import { fmt, lat, ratio, Row, yesNo } from '../lib/report';

/** SQL for a UUIDv7-shaped id from a timestamp and a seed (ids order by time, as newId() does). */
const uuid7 = (ts: string, seed: string) =>
  `(lpad(to_hex((extract(epoch from ${ts}) * 1000)::bigint), 12, '0') || '7' || substr(md5(${seed}::text), 1, 3) || '8' || substr(md5(${seed}::text), 4, 15))::uuid`;

interface Endpoint {
  name: string;
  path: string;
  token?: string;
  /** Max req/s target, and the p99 target at half of it. */
  target?: number;
  /** Why it cannot run (route missing). */
  skipped?: string;
}

interface Measured {
  rps: number;
  latency: Latency;
  non2xx: number;
  errors: number;
  /** CPU µs per request spent by the server process and by PostgreSQL. */
  cpuUs: { server: number; postgres: number };
}

async function load(bench: Bench, job: HttpJob): Promise<Measured> {
  const { result, cpu } = await measureCpu(bench.app.pid, () => bench.httpLoad.request<HttpResult>('run', job));
  const requests = Math.max(1, result.requests);
  return {
    rps: result.rps,
    latency: latencyOf(mergeHistograms([result.histogram])),
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    cpuUs: { server: Math.round((cpu.serverMs * 1000) / requests), postgres: Math.round((cpu.postgresMs * 1000) / requests) },
  };
}

const cpuOf = (m: Measured) => `; CPU/req: server ${fmt(m.cpuUs.server)} µs, PostgreSQL ${fmt(m.cpuUs.postgres)} µs`;

/** 100k users for the search, inserted in one statement (bulk data, not sign-ups). */
async function searchUsers(bench: Bench): Promise<void> {
  await bench.sql.query(
    `INSERT INTO users (id, email, nickname, created_at, updated_at)
     SELECT ${uuid7("now() - interval '1 ms' * g", "'sr' || g")}, 'sr' || g || '@bench.invalid', 'sr' || g, now(), now()
     FROM generate_series(1, $1::int) g`,
    [bench.settings.searchUsers],
  );
  await bench.sql.query(`INSERT INTO user_settings (user_id) SELECT id FROM users WHERE email LIKE 'sr%@bench.invalid' ON CONFLICT DO NOTHING`);
}

/** `count` messages in one chat, seq 1..count, alternating senders; the chat's counters follow. */
async function history(bench: Bench, chatId: string, senders: [string, string], count: number): Promise<void> {
  await bench.sql.query(
    `WITH inserted AS (
       INSERT INTO messages (id, chat_id, sender_id, seq, type, text, created_at, updated_at)
       SELECT ${uuid7("b.base + interval '1 ms' * g", "'h' || g")}, $1, CASE WHEN g % 2 = 0 THEN $2::uuid ELSE $3::uuid END, g, 'TEXT',
              'history message number ' || g, b.base + interval '1 ms' * g, b.base + interval '1 ms' * g
       FROM generate_series(1, $4::int) g, (SELECT now() - interval '1 day' AS base) b
       RETURNING id, seq, created_at)
     UPDATE chats SET message_seq = i.seq, last_message_id = i.id, last_activity_at = i.created_at, updated_at = now()
     FROM inserted i WHERE chats.id = $1 AND i.seq = $4`,
    [chatId, senders[0], senders[1], count],
  );
  await bench.sql.query(`UPDATE chat_members SET visible = true, last_read_seq = $2 WHERE chat_id = $1`, [chatId, count]);
}

/** One last message in each of the user's chats (half from the other member, so unread counts vary). */
async function lastMessages(bench: Bench, userId: string): Promise<void> {
  await bench.sql.query(
    `WITH mine AS (
       SELECT c.id, c.message_seq, row_number() OVER (ORDER BY c.id) AS n,
              (SELECT o.user_id FROM chat_members o WHERE o.chat_id = c.id AND o.user_id <> $1 LIMIT 1) AS other
       FROM chats c JOIN chat_members m ON m.chat_id = c.id AND m.user_id = $1),
     inserted AS (
       INSERT INTO messages (id, chat_id, sender_id, seq, type, text, created_at, updated_at)
       SELECT ${uuid7("now() - interval '1 second' * n", "id::text || 'last'")}, id, CASE WHEN n % 2 = 0 THEN $1::uuid ELSE other END,
              message_seq + 1, 'TEXT', 'the last message of chat ' || n, now() - interval '1 second' * n, now() - interval '1 second' * n
       FROM mine
       RETURNING id, chat_id, seq, created_at)
     UPDATE chats SET message_seq = i.seq, last_message_id = i.id, last_activity_at = i.created_at, updated_at = now()
     FROM inserted i WHERE chats.id = i.chat_id`,
    [userId],
  );
  await bench.sql.query(`UPDATE chat_members SET visible = true WHERE chat_id IN (SELECT chat_id FROM chat_members WHERE user_id = $1)`, [userId]);
  await bench.sql.query('ANALYZE');
}

/** Builds the chat fixtures through the chats API; a missing route marks both chat endpoints skipped. */
async function chatFixtures(bench: Bench, owner: BenchUser): Promise<{ historyChatId: string } | RouteMissing> {
  const { listChats, historyMessages } = bench.settings;
  const partners = await bench.fixtures.request<BenchUser[]>('users', { prefix: 'cl', count: listChats });
  const chatIds: string[] = [];
  try {
    for (const partner of partners) {
      const chat = expectOk(await api<{ id: string }>(bench.app.url, 'POST', '/api/chats/direct', owner.token, { targetUserId: partner.id }), 'POST /api/chats/direct');
      chatIds.push(chat.id);
    }
  } catch (error) {
    if (error instanceof RouteMissing) return error;
    throw error;
  }
  await history(bench, chatIds[0], [owner.id, partners[0].id], historyMessages);
  await lastMessages(bench, owner.id);
  return { historyChatId: chatIds[0] };
}

/** Probes a route once with the caller's token; 404 = not served yet. */
async function probe(bench: Bench, endpoint: Endpoint): Promise<Endpoint> {
  if (endpoint.skipped) return endpoint;
  try {
    expectOk(await api(bench.app.url, 'GET', endpoint.path, endpoint.token), `GET ${endpoint.path.split('?')[0]}`);
    return endpoint;
  } catch (error) {
    if (error instanceof RouteMissing) return { ...endpoint, skipped: error.message };
    return { ...endpoint, skipped: `skipped: ${(error as Error).message}` };
  }
}

/** Scenario 4: the hot HTTP paths with autocannon, against GET /health of the same server. */
export async function httpScenario(bench: Bench): Promise<void> {
  const { seconds, httpConnections: connections, listChats, historyMessages } = bench.settings;
  const [owner] = await bench.fixtures.request<BenchUser[]>('users', { prefix: 'hu', count: 1 });
  await searchUsers(bench);
  const chats = await chatFixtures(bench, owner);
  const chatSkip = chats instanceof RouteMissing ? chats.message : undefined;
  const historyPath = chats instanceof RouteMissing ? '/api/chats/missing/messages?limit=50' : `/api/chats/${chats.historyChatId}/messages?limit=50`;

  const endpoints = await Promise.all(
    [
      { name: 'GET /api/users/me', path: '/api/users/me', token: owner.token },
      { name: `GET /api/users/search?q= (${fmt(bench.settings.searchUsers)} users)`, path: '/api/users/search?q=sr1234', token: owner.token },
      { name: `GET /api/chats (user in ${listChats} chats)`, path: '/api/chats', token: owner.token, target: 1_500, skipped: chatSkip },
      // The first 30 chats only: the whole list before v2.2 (its default page), comparable across versions.
      { name: `GET /api/chats?limit=30 (user in ${listChats} chats)`, path: '/api/chats?limit=30', token: owner.token, skipped: chatSkip },
      { name: `GET /api/chats/:id/messages?limit=50 (${fmt(historyMessages)} messages)`, path: historyPath, token: owner.token, target: 2_000, skipped: chatSkip },
    ].map((e) => probe(bench, e)),
  );

  const health = await load(bench, { url: `${bench.app.url}/health`, connections, seconds });
  const results: Record<string, { max?: Measured; atHalf?: Measured; skipped?: string }> = { '/health': { max: health } };
  const rows: Row[] = [
    { scenario: '4 GET /health (baseline of scenario 4)', figure: `${fmt(health.rps)} req/s; ${lat(health.latency)}${cpuOf(health)}`, baseline: '—', ratio: '—', target: '—', met: '—' },
  ];
  for (const endpoint of endpoints) {
    if (endpoint.skipped) {
      results[endpoint.name] = { skipped: endpoint.skipped };
      rows.push({ scenario: `4 ${endpoint.name}`, figure: endpoint.skipped, baseline: `${fmt(health.rps)} req/s`, ratio: '—', target: endpoint.target ? `≥ ${fmt(endpoint.target)} req/s` : '—', met: '—' });
      continue;
    }
    const headers = { Authorization: `Bearer ${endpoint.token}` };
    const max = await load(bench, { url: bench.app.url + endpoint.path, headers, connections, seconds });
    const failures = max.non2xx || max.errors ? ` [${max.non2xx} non-2xx, ${max.errors} errors]` : '';
    rows.push({
      scenario: `4 ${endpoint.name}`,
      figure: `${fmt(max.rps)} req/s; ${lat(max.latency)}${failures}${cpuOf(max)}`,
      baseline: `${fmt(health.rps)} req/s`,
      ratio: ratio(max.rps, health.rps),
      target: endpoint.target ? `≥ ${fmt(endpoint.target)} req/s` : '—',
      met: endpoint.target ? yesNo(max.rps >= endpoint.target && !max.non2xx) : '—',
    });
    results[endpoint.name] = { max };
    if (!endpoint.target) continue;
    const rate = endpoint.target / 2;
    const atHalf = await load(bench, { url: bench.app.url + endpoint.path, headers, connections: 20, seconds, rate });
    results[endpoint.name].atHalf = atHalf;
    rows.push({
      scenario: `4 ${endpoint.name.split(' (')[0]} at ${fmt(rate)} req/s`,
      figure: `${lat(atHalf.latency)}; ${fmt(atHalf.rps)} req/s served`,
      baseline: '—',
      ratio: '—',
      target: 'p99 ≤ 50 ms',
      met: yesNo(atHalf.latency.p99 <= 50 && !atHalf.non2xx),
    });
  }
  bench.raw.http = results;
  bench.rows.push(...rows);
}
