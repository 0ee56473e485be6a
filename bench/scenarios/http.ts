import type { BenchUser } from '../fixtures';
import type { HttpJob, HttpResult } from '../load/http-load';
import { api, expectOk, RouteMissing } from '../lib/api';
import { Bench, freePort } from '../lib/context';
import { measureCpu } from '../lib/cpu';
import { Latency, latencyOf, mergeHistograms } from '../lib/histogram';
import { fmt, lat, ratio, Row, yesNo } from '../lib/report';
import { ServerProcess } from '../lib/server';

/** SQL for a UUIDv7-shaped id from a timestamp and a seed (ids order by time, as newId() does). */
const uuid7 = (ts: string, seed: string) =>
  `(lpad(to_hex((extract(epoch from ${ts}) * 1000)::bigint), 12, '0') || '7' || substr(md5(${seed}::text), 1, 3) || '8' || substr(md5(${seed}::text), 4, 15))::uuid`;

interface Endpoint {
  name: string;
  path: string;
  token?: string;
  /** Issue 17: max req/s as a share of /health's, and p99 ≤ P99_TARGET_MS at half the measured maximum. */
  target?: number;
  /** Why it cannot run (route missing). */
  skipped?: string;
}

/** Issue 17: /health against bare node:http answering the same JSON. */
const HEALTH_TARGET = 0.4;
const P99_TARGET_MS = 50;

interface Measured {
  rps: number;
  latency: Latency;
  non2xx: number;
  errors: number;
  /** CPU µs per request spent by the server process and by PostgreSQL. */
  cpuUs: { server: number; postgres: number };
}

async function load(bench: Bench, job: HttpJob, pid = bench.app.pid): Promise<Measured> {
  const { result, cpu } = await measureCpu(pid, bench.database, () => bench.httpLoad.request<HttpResult>('run', job));
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
      { name: 'GET /api/users/me', path: '/api/users/me', token: owner.token, target: 0.6 },
      { name: `GET /api/users/search?q= (${fmt(bench.settings.searchUsers)} users)`, path: '/api/users/search?q=sr1234', token: owner.token },
      { name: `GET /api/chats (user in ${listChats} chats)`, path: '/api/chats', token: owner.token, skipped: chatSkip },
      // The first 30 chats: the whole list before v2.2 (its default page), comparable across versions; the chat list target.
      { name: `GET /api/chats?limit=30 (user in ${listChats} chats)`, path: '/api/chats?limit=30', token: owner.token, target: 0.4, skipped: chatSkip },
      { name: `GET /api/chats/:id/messages?limit=50 (${fmt(historyMessages)} messages)`, path: historyPath, token: owner.token, target: 0.5, skipped: chatSkip },
    ].map((e) => probe(bench, e)),
  );

  // The bare baselines and /health back to back, so all see the same machine. Bare Express is no
  // target's baseline: it shows what the framework under platform-express costs by itself.
  const bare = await load(bench, { url: `${bench.bare.url}/health`, connections, seconds }, bench.bare.pid);
  const bareExpressServer = await ServerProcess.bareExpress(await freePort());
  bench.extraServers.push(bareExpressServer);
  const bareExpress = await load(bench, { url: `${bareExpressServer.url}/health`, connections, seconds }, bareExpressServer.pid);
  await bareExpressServer.stop();
  bench.extraServers.splice(bench.extraServers.indexOf(bareExpressServer), 1);
  const health = await load(bench, { url: `${bench.app.url}/health`, connections, seconds });
  const results: Record<string, { max?: Measured; atHalf?: Measured; skipped?: string }> = {
    bare: { max: bare },
    bareExpress: { max: bareExpress },
    '/health': { max: health },
  };
  const rows: Row[] = [
    {
      scenario: '4 GET /health',
      figure: `${fmt(health.rps)} req/s; ${lat(health.latency)}${cpuOf(health)}`,
      baseline: `bare node:http ${fmt(bare.rps)} req/s; CPU/req ${fmt(bare.cpuUs.server)} µs`,
      ratio: ratio(health.rps, bare.rps),
      target: `≥ ${HEALTH_TARGET}× bare node:http`,
      met: yesNo(health.rps >= HEALTH_TARGET * bare.rps && !health.non2xx),
    },
  ];
  rows.push(await atHalf(bench, 'GET /health', { url: `${bench.app.url}/health`, connections: 20, seconds, rate: health.rps / 2 }, results, '/health'));
  rows.push({
    scenario: '4 GET /health on bare Express 5 (calibration)',
    figure: `${fmt(bareExpress.rps)} req/s; ${lat(bareExpress.latency)}${cpuOf(bareExpress)}`,
    baseline: `bare node:http ${fmt(bare.rps)} req/s`,
    ratio: ratio(bareExpress.rps, bare.rps),
    target: '—',
    met: '—',
  });
  for (const endpoint of endpoints) {
    if (endpoint.skipped) {
      results[endpoint.name] = { skipped: endpoint.skipped };
      rows.push({ scenario: `4 ${endpoint.name}`, figure: endpoint.skipped, baseline: `/health ${fmt(health.rps)} req/s`, ratio: '—', target: endpoint.target ? `≥ ${endpoint.target}× /health` : '—', met: '—' });
      continue;
    }
    const headers = { Authorization: `Bearer ${endpoint.token}` };
    const max = await load(bench, { url: bench.app.url + endpoint.path, headers, connections, seconds });
    const failures = max.non2xx || max.errors ? ` [${max.non2xx} non-2xx, ${max.errors} errors]` : '';
    rows.push({
      scenario: `4 ${endpoint.name}`,
      figure: `${fmt(max.rps)} req/s; ${lat(max.latency)}${failures}${cpuOf(max)}`,
      baseline: `/health ${fmt(health.rps)} req/s`,
      ratio: ratio(max.rps, health.rps),
      target: endpoint.target ? `≥ ${endpoint.target}× /health` : '—',
      met: endpoint.target ? yesNo(max.rps >= endpoint.target * health.rps && !max.non2xx) : '—',
    });
    results[endpoint.name] = { max };
    if (!endpoint.target) continue;
    rows.push(await atHalf(bench, endpoint.name.split(' (')[0], { url: bench.app.url + endpoint.path, headers, connections: 20, seconds, rate: max.rps / 2 }, results, endpoint.name));
  }
  bench.raw.http = results;
  bench.rows.push(...rows);
}

/** The p99 target: the route at a fixed rate of half its measured maximum (open loop, 20 connections). */
async function atHalf(bench: Bench, name: string, job: HttpJob, results: Record<string, { atHalf?: Measured }>, key: string): Promise<Row> {
  const rate = Math.max(1, Math.round(job.rate!));
  const measured = await load(bench, { ...job, rate });
  results[key].atHalf = measured;
  return {
    scenario: `4 ${name} at ${fmt(rate)} req/s (half its max)`,
    figure: `${lat(measured.latency)}; ${fmt(measured.rps)} req/s served`,
    baseline: '—',
    ratio: '—',
    target: `p99 ≤ ${P99_TARGET_MS} ms`,
    met: yesNo(measured.latency.p99 <= P99_TARGET_MS && !measured.non2xx),
  };
}
