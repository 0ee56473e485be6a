/**
 * Group change benchmark: what one change of a large group costs, each member getting the chat as
 * they see it (chat:updated with every member's profile, their own unread, pin and mute).
 *
 * `npm run bench:group-change [-- --members=200] [-- --changes=30] [-- --contacts] [-- --keep-db]`
 *
 * PostgreSQL and Redis (DATABASE_URL, REDIS_URL): a fresh database, `members` users made through
 * the fixture process, a group of all of them made over HTTP by the first, every member connected
 * over a real socket (so every frame is built, logged and delivered). `--contacts` makes every
 * member a contact of every other (the privacy facts then differ per viewer pair). Then `changes`
 * renames one after another by the owner (after one to warm up), each timed from the request
 * to the owner's answer and to the last member's chat:updated, with the CPU the server,
 * PostgreSQL and Redis spent per change. BENCH_APP_MAIN runs another build (an A/B comparison). Prints a table and writes
 * bench/results/<ISO date>-group-change.json.
 */
import WebSocket from 'ws';
import type { BenchUser } from './fixtures';
import { api } from './lib/api';
import { Child } from './lib/child';
import { freePort } from './lib/context';
import { measureCpu, watchRedis } from './lib/cpu';
import { fmt } from './lib/report';
import { runMain, saveResults } from './lib/results';
import { ServerProcess } from './lib/server';
import { benchAppEnv, checkServices, Cleanups, MissingServices, scratchBackend, Sql } from './lib/services';

const log = (line: string) => console.log(`[group-change-bench ${new Date().toISOString().slice(11, 19)}] ${line}`);

/** A member's socket, past auth:ok, counting the chat:updated frames of one chat. */
class Member {
  updates = 0;
  private waiters: Array<{ count: number; resolve: () => void }> = [];

  private constructor(private readonly socket: WebSocket) {}

  static open(url: string, token: string, chatId: string): Promise<Member> {
    return new Promise((resolvePromise, reject) => {
      const socket = new WebSocket(url);
      const member = new Member(socket);
      socket.once('error', reject);
      socket.once('open', () => socket.send(JSON.stringify({ event: 'auth', payload: { token } })));
      socket.on('message', (data) => {
        const text = data.toString();
        if (text.startsWith('{"event":"auth:ok"')) resolvePromise(member);
        else if (text.startsWith('{"event":"chat:updated"') && text.includes(chatId)) member.seen();
      });
    });
  }

  /** Resolves once `count` updates have arrived in all. */
  updated(count: number): Promise<void> {
    if (this.updates >= count) return Promise.resolve();
    return new Promise((resolvePromise) => this.waiters.push({ count, resolve: resolvePromise }));
  }

  close(): void {
    this.socket.close();
  }

  private seen(): void {
    this.updates++;
    this.waiters = this.waiters.filter((w) => (w.count <= this.updates ? (w.resolve(), false) : true));
  }
}

interface Figures {
  members: number;
  contacts: boolean;
  changes: number;
  /** Request to the owner's 200, and request to the last member's chat:updated, in ms. */
  answerMs: { p50: number; max: number };
  deliveredMs: { p50: number; max: number };
  /** Per change. */
  serverCpuMs: number;
  postgresCpuMs: number;
  redisCpuMs: number | null;
}

const percentile = (values: number[], p: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor((values.length * p) / 100))];

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const option = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const memberCount = Number(option('members') ?? 200);
  const changes = Number(option('changes') ?? 30);
  const contacts = argv.includes('--contacts');
  const keepDb = argv.includes('--keep-db');
  if (!Number.isInteger(memberCount) || memberCount < 2 || memberCount > 200 || !Number.isInteger(changes) || changes < 1) {
    console.error('usage: npm run bench:group-change [-- --members=2..200] [-- --changes=30] [-- --contacts] [-- --keep-db]');
    return 2;
  }
  let services: Awaited<ReturnType<typeof checkServices>>;
  try {
    services = await checkServices(process.env);
  } catch (error) {
    if (!(error instanceof MissingServices)) throw error;
    console.error(`this bench needs PostgreSQL and Redis:\n${error.message}`);
    return 2;
  }
  watchRedis(services.redisPid);

  const cleanups = new Cleanups();
  let figures: Figures;
  try {
    const tag = `group_${Date.now()}`;
    const databaseUrl = await scratchBackend(services, tag, cleanups, { keepDb, log });
    const env = { ...benchAppEnv(tag), DATABASE_URL: databaseUrl, REDIS_URL: services.redisUrl, RATE_LIMIT_GROUP_CHANGES: '1000000/60', RATE_LIMIT_GROUP_CREATE: '1000000/60' };
    const fixtures = Child.start('fixtures', env);
    cleanups.push(() => fixtures.stop());
    const users = await fixtures.request<BenchUser[]>('users', { prefix: `gc${Date.now().toString(36)}`, count: memberCount });
    await fixtures.request('close');
    const server = await ServerProcess.app('app', await freePort(), env);
    cleanups.push(() => server.stop());
    const [owner, ...others] = users;
    const created = await api<{ id: string }>(server.url, 'POST', '/api/chats/group', owner.token, { name: 'Bench group', memberIds: others.map((u) => u.id) });
    if (created.status !== 201) throw new Error(`group creation answered ${created.status} ${created.code}`);
    const chatId = created.data.id;
    if (contacts) {
      const sql = await Sql.connect(databaseUrl);
      await sql.query(
        `INSERT INTO contacts (owner_id, contact_id) SELECT x.user_id, y.user_id FROM chat_members x JOIN chat_members y ON y.chat_id = x.chat_id AND y.user_id <> x.user_id WHERE x.chat_id = $1`,
        [chatId],
      );
      await sql.query('ANALYZE');
      await sql.close();
    }
    log(`${memberCount} members, ${contacts ? 'every one a contact of every other' : 'no contacts'}; connecting their sockets`);
    const members = await Promise.all(users.map((u) => Member.open(`${server.url.replace('http', 'ws')}/ws`, u.token, chatId)));
    cleanups.push(async () => members.forEach((m) => m.close()));

    const answered: number[] = [];
    const delivered: number[] = [];
    // One change to warm up (prepared statements, JIT of V8), not counted.
    const rename = async (n: number) => {
      const started = process.hrtime.bigint();
      const res = await api(server.url, 'PATCH', `/api/chats/${chatId}`, owner.token, { name: `Bench group ${n}` });
      if (res.status !== 200) throw new Error(`rename answered ${res.status} ${res.code}`);
      const answeredAt = process.hrtime.bigint();
      await Promise.all(members.map((m) => m.updated(n + 1)));
      return { answer: Number(answeredAt - started) / 1e6, delivery: Number(process.hrtime.bigint() - started) / 1e6 };
    };
    await rename(0);
    const { cpu } = await measureCpu(server.pid, tag, async () => {
      for (let n = 1; n <= changes; n++) {
        const { answer, delivery } = await rename(n);
        answered.push(answer);
        delivered.push(delivery);
      }
    });
    figures = {
      members: memberCount,
      contacts,
      changes,
      answerMs: { p50: Math.round(percentile(answered, 50)), max: Math.round(Math.max(...answered)) },
      deliveredMs: { p50: Math.round(percentile(delivered, 50)), max: Math.round(Math.max(...delivered)) },
      serverCpuMs: Math.round(cpu.serverMs / changes),
      postgresCpuMs: Math.round(cpu.postgresMs / changes),
      redisCpuMs: cpu.redisMs === null ? null : Math.round(cpu.redisMs / changes),
    };
  } finally {
    await cleanups.cleanup();
  }

  const file = saveResults('-group-change', { figures }, { machine: { build: process.env.BENCH_APP_MAIN ?? 'dist/src/main.js' } });
  const f = figures;
  console.log(`\n## A rename of a group of ${f.members}${f.contacts ? ' (all contacts of each other)' : ''}, ${f.changes} in a row\n`);
  console.log('| answered (p50 / max) | last member told (p50 / max) | CPU per change: server / PostgreSQL / Redis |');
  console.log('|---|---|---|');
  console.log(`| ${fmt(f.answerMs.p50)} / ${fmt(f.answerMs.max)} ms | ${fmt(f.deliveredMs.p50)} / ${fmt(f.deliveredMs.max)} ms | ${fmt(f.serverCpuMs)} / ${fmt(f.postgresCpuMs)} / ${f.redisCpuMs === null ? '—' : fmt(f.redisCpuMs)} ms |`);
  console.log(`\nresults: ${file}`);
  return 0;
}

runMain(main);
