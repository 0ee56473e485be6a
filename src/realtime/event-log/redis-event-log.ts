import { OnApplicationShutdown, OnModuleInit } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { RedisScript } from '../../core/redis/redis-script';
import { bulk, command } from '../../core/redis/resp-pipe';
import { CommandPipe, RedisService } from '../../core/redis/redis.service';
import { EventLog, EventLogLimits, judgeRead, LogAudience, LogRead, StoredEntry } from './event-log';
import { EntryList, shardCalls, shardOf } from './log-shards';

/*
 * A user's log is one stream, `<prefix>:{s:<shard>}:log:<id>` (LOG_SHARDS: the users of a shard
 * share its hash tag, one slot on a Redis Cluster, so one script call appends for all of them).
 * One entry holds a *run*: the user's events of one append batch (at most MAX_RUN events and
 * MAX_RUN_BYTES), in order, with consecutive seqs. Its id is `0-<seq of its first event>`; its
 * fields are `t` (append time, ms) and `e`, the events joined by newlines, each `b<frame body>`, `r<key of a body shared
 * by the audience>` or `g` (a gap: an append that failed). A frame body is JSON from
 * JSON.stringify, which never holds a raw newline. (Entries of the release before hold one event
 * in a field `b`, `r` or `g`: still read.) The stream's last generated id is the user's seq
 * counter: XADD `0-*` allocates a run's first seq and XSETID moves the counter to its last. So a
 * group member who gets 8 messages in a batch costs Redis one XADD of one value instead of 8
 * XADDs, and a run's value is made once for every member who gets the same events (measured with
 * 200 members and 8 messages per batch: ~110 against ~420 µs of Redis CPU per message). Counter
 * and log are one key and expire together. A stream that does not exist starts at now in µs
 * (EventLog). A body sent to several users is stored once, under <prefix>:{ev:<uuid>}, living as
 * long as the age limit, and their entries name it.
 *
 * Trimming is by seq, not by entry (an entry may hold many events): when an append passes a
 * multiple of TRIM_EVERY seqs, entries beginning more than maxEvents + MAX_RUN - 1 seqs back go
 * (`MINID ~`: whole stream nodes at a time). A run is at most MAX_RUN events, so every one of the
 * newest maxEvents is kept, and a log holds about maxEvents + MAX_RUN events at most.
 *
 * Expiry: a log lives `ttlMs` (the age limit plus REFRESH_SHARE of it) after its creation or its
 * last refresh. An instance refreshes a user's TTL with an append when it has not done so for
 * REFRESH_SHARE of the age limit (instead of on every append), so a log still lives at least the
 * age limit after its last append, whichever instance appended it.
 */

/** How long after its append an entry's shared body may still be on its way (Redis Cluster), and how often it is asked again meanwhile. */
const BODY_IN_FLIGHT_MS = 1_000;
const BODY_RETRY_MS = 10;

/** Share of the age limit between one instance's TTL refreshes of a user's log. */
const REFRESH_SHARE = 1 / 8;

/** A log is trimmed when an append passes a multiple of this many seqs (a trim call per 64 events: its cost spread thin). */
const TRIM_EVERY = 64;
/** The most events in one entry: a longer run is cut, so the entry holding a given seq begins at most MAX_RUN - 1 before it. */
const MAX_RUN = 64;
/**
 * A run is also cut before its value passes this many bytes (a stream node's default size): the
 * position read (XINFO STREAM) returns the stream's first and last entries whole, and its cost
 * grows with them (measured: ~7 µs with small entries, ~90 µs with two runs of 64 direct messages).
 */
const MAX_RUN_BYTES = 4_096;

/**
 * Where a user's counter starts when their stream does not exist (it expired, or Redis lost it),
 * in µs: the later of the calling instance's clock (`now`, ms) and Redis's own. Seqs already
 * handed out are below either unless clocks went back; taking both keeps an instance whose clock
 * runs behind from starting a recreated counter below seqs its clients still hold. Lua: `counterStart(now)`.
 */
const counterStartLua = `
local function counterStart(now)
  local t = redis.call('TIME')
  return math.max(tonumber(now) * 1000, tonumber(t[1]) * 1000000 + tonumber(t[2]))
end
`;

/** The user's position (the stream's last id); a stream that does not exist is made, empty, at counterStart. Lua: `position(key, now)`. */
const positionLua = (ttlMs: number) => `${counterStartLua}
local function position(key, now)
  if redis.call('EXISTS', key) == 0 then
    local start = string.format('%d', counterStart(now))
    redis.call('XADD', key, '0-' .. start, 'p', '1')
    redis.call('XTRIM', key, 'MAXLEN', 0)
    redis.call('PEXPIRE', key, ${ttlMs})
    return start
  end
  local info = redis.call('XINFO', 'STREAM', key)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then return string.sub(info[i + 1], 3) end
  end
end
`;

/**
 * Appends runs for each user of one shard (KEYS: their streams). ARGV[1] the time (ms), ARGV[2]
 * the number e of distinct runs, then e pairs `count value` (a run's number of events and its
 * `e` field), then per user a header h = 2c + r (r: refresh the TTL) and c 0-based indices of
 * those pairs, the user's new runs in order; c = 0 means the previous user's runs again.
 * Resolves each user's first new seq.
 */
const appendScript = (limits: EventLogLimits, ttlMs: number) =>
  new RedisScript(`${counterStartLua}
local now = ARGV[1]
local a = 3 + 2 * tonumber(ARGV[2])
local runs = {}
local out = {}
for u = 1, #KEYS do
  local key = KEYS[u]
  local h = tonumber(ARGV[a])
  a = a + 1
  local c = math.floor(h / 2)
  if c > 0 then
    runs = {}
    for i = 1, c do runs[i] = 3 + 2 * tonumber(ARGV[a + i - 1]) end
    a = a + c
  end
  local first, last
  for r = 1, #runs do
    local n = tonumber(ARGV[runs[r]])
    local value = ARGV[runs[r] + 1]
    local start = tonumber(string.sub(redis.call('XADD', key, '0-*', 't', now, 'e', value), 3))
    if start == 1 then
      -- The log did not exist (XADD made it at 0-1): it starts at counterStart instead.
      redis.call('DEL', key)
      start = counterStart(now) + 1
      redis.call('XADD', key, string.format('0-%d', start), 't', now, 'e', value)
      h = 1
    end
    if n > 1 then redis.call('XSETID', key, string.format('0-%d', start + n - 1)) end
    first = first or start
    last = start + n - 1
  end
  if math.floor(last / ${TRIM_EVERY}) ~= math.floor((first - 1) / ${TRIM_EVERY}) then
    -- Runs are at most MAX_RUN long: the one holding the oldest seq to keep begins at most
    -- MAX_RUN - 1 before it, and is kept.
    redis.call('XTRIM', key, 'MINID', '~', string.format('0-%d', last - ${limits.maxEvents} - ${MAX_RUN} + 2))
  end
  if h % 2 == 1 then redis.call('PEXPIRE', key, ${ttlMs}) end
  out[u] = first
end
return out`);

/** The user's position. */
const positionScript = (ttlMs: number) => new RedisScript(`${positionLua(ttlMs)}return position(KEYS[1], ARGV[1])`);

/**
 * The position, the entry holding seq ARGV[2] (a run that began at or before it may go on past
 * it) and at most ARGV[3] entries after it, read in one step.
 */
const readScript = (ttlMs: number) =>
  new RedisScript(
    `${positionLua(ttlMs)}return {position(KEYS[1], ARGV[1]), redis.call('XREVRANGE', KEYS[1], '0-' .. ARGV[2], '-', 'COUNT', 1), redis.call('XRANGE', KEYS[1], '(0-' .. ARGV[2], '+', 'COUNT', ARGV[3])}`,
  );

/** Append batches on their way at once (one: the most coalescing; a second cost more CPU per group message in the A/B runs). */
const MAX_BATCHES_IN_FLIGHT = 1;
/**
 * On one Redis server, the most users one script call appends for. A batch's calls are cut by
 * users, not by shard (on a Redis Cluster a call's keys must share a slot: one call per shard):
 * each call has a fixed cost, ~17 µs of Redis CPU, and a group of 200 meets about 61 of the 64
 * shards; the cap keeps one call short, so other clients' commands are not held up behind it.
 */
const MAX_CALL_USERS = 256;
/** Users whose encoded keys are kept (then the cache starts over). */
const MAX_CACHED_USERS = 50_000;
/** Users whose failed appends still wait for their gap entry are retried this often. */
const GAP_RETRY_MS = 5_000;
/** Beyond this many users waiting for a gap entry, the oldest are forgotten (memory stays bounded). */
const MAX_PENDING_GAPS = 100_000;

interface QueuedAppend {
  audiences: LogAudience[];
  seqs: Array<Array<number | null>>;
  resolve: (seqs: Array<Array<number | null>>) => void;
}

/** Where an appended entry's seq goes (null: a gap entry, whose seq nobody needs). */
type SeqTarget = { seqs: Array<number | null>; index: number } | null;

/** A user's appends in a batch: their entries and where each one's seq goes. */
interface PendingUser {
  list: EntryList;
  targets: SeqTarget[];
}

/** A user seen lately: their shard, the stream key as a RESP bulk string, and when this instance last refreshed its TTL. */
interface CachedUser {
  shard: number;
  key: string;
  refreshedAt: number;
}

/** An event as a run's value holds it, in parts: `g` (a gap), `r` + the key of a shared body, or `b` + the body. */
type Piece = Array<string | Buffer>;
/** Entry 0 of every batch: a gap. */
const GAP: Piece = ['g'];

type RawEntry = [string, string[]];
type ReadReply = [string, RawEntry[], RawEntry[]];

/** A stored event whose body may still have to be fetched by its key. */
type ReadEntry = StoredEntry & { ref?: string };

/**
 * The event log of the cluster mode, in Redis. Appends are coalesced: every append requested
 * while the previous batch is on its way goes out together, one script call per shard of users
 * (each user's new entries at once, an entry shared by several users listed once), in one write on
 * a connection of their own (RespPipe: ioredis would cost more CPU per member of a group than
 * delivering to that member does). Reads, rare, go through ioredis.
 */
export class RedisEventLog extends EventLog implements OnModuleInit, OnApplicationShutdown {
  private readonly appendLua: RedisScript;
  private readonly positionLua: RedisScript;
  private readonly readLua: RedisScript;
  private queue: QueuedAppend[] = [];
  private flushScheduled = false;
  private inFlight = 0;
  /** Users with an append that failed and no gap entry yet (insertion-ordered). */
  private readonly gaps = new Set<string>();
  private gapTimer: NodeJS.Timeout | null = null;
  /** RespPipe on one server; on a Redis Cluster a ClusterPipe, which routes each command by its key's slot (RedisService.pipe). */
  private readonly pipe: CommandPipe;
  /** EVALSHA <append>: the start of every append command. */
  private readonly appendHead: string;
  private readonly refreshMs: number;
  /** The users seen lately (a group's members recur). */
  private readonly users = new Map<string, CachedUser>();
  /** On a Redis Cluster: one script call per shard of a batch (see MAX_CALL_USERS). */
  private readonly clustered: boolean;

  constructor(
    private readonly redis: RedisService,
    private readonly limits: EventLogLimits,
  ) {
    super();
    this.refreshMs = Math.ceil(limits.maxAgeMs * REFRESH_SHARE);
    const ttlMs = limits.maxAgeMs + this.refreshMs;
    this.appendLua = appendScript(limits, ttlMs);
    this.positionLua = positionScript(ttlMs);
    this.readLua = readScript(ttlMs);
    this.appendHead = bulk('EVALSHA') + bulk(this.appendLua.sha);
    this.clustered = redis.cluster;
    this.pipe = redis.pipe('event log', () => [command('SCRIPT', 'LOAD', this.appendLua.lua)]);
  }

  async onModuleInit(): Promise<void> {
    await this.redis.bounded('event log scripts', (c) => Promise.all([this.positionLua, this.readLua].map((s) => s.load(c))), null, 5_000);
  }

  onApplicationShutdown(): void {
    if (this.gapTimer) clearTimeout(this.gapTimer);
  }

  append(audiences: LogAudience[]): Promise<Array<Array<number | null>>> {
    return new Promise((resolve) => {
      this.queue.push({ audiences, seqs: audiences.map((a) => a.userIds.map(() => null)), resolve });
      this.scheduleFlush();
    });
  }

  /**
   * At most MAX_BATCHES_IN_FLIGHT batches on their way: what is asked for meanwhile goes in the
   * next one. Under light load a batch goes out in the same turn of the event loop (nothing
   * waits); under load batches grow by themselves, and a member's several events go in one
   * script call. Batches share one connection, so Redis runs them in order.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.inFlight >= MAX_BATCHES_IN_FLIGHT || !this.queue.length) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.inFlight++;
      void this.flush().finally(() => {
        this.inFlight--;
        this.scheduleFlush();
      });
    });
  }

  async position(userId: string): Promise<number | null> {
    const counter = await this.redis.bounded('event log position', (c) => this.positionLua.run<string>(c, [this.streamKey(userId)], [Date.now()]), null);
    return counter === null ? null : Number(counter);
  }

  async read(userId: string, after: number, limit: number, upTo?: number): Promise<LogRead | null> {
    const now = Date.now();
    const reply = await this.redis.bounded('event log read', (c) => this.readLua.run<ReadReply>(c, [this.streamKey(userId)], [now, after, limit + 1]), null);
    if (!reply) return null;
    const [counter, before, raw] = reply;
    const end = Math.min(upTo ?? Infinity, Number(counter));
    // The runs' events after `after` and up to `end`, at most limit + 1 (judgeRead's look-ahead).
    const entries: ReadEntry[] = [];
    for (const [id, fields] of [...before, ...raw]) {
      let seq = Number(id.slice(2));
      let at = 0;
      for (let i = 0; i < fields.length && entries.length <= limit; i += 2) {
        const field = fields[i];
        if (field === 't') at = Number(fields[i + 1]);
        else {
          // `e`: a run, its events joined by newlines; `b`, `r`, `g`: one event (the release before).
          const events = field === 'e' ? fields[i + 1].split('\n') : [field + fields[i + 1]];
          for (const event of events) {
            if (seq > after && seq <= end && entries.length <= limit) entries.push(readEvent(seq, at, event));
            seq++;
          }
        }
      }
    }
    const refs = [...new Set(entries.flatMap((e) => (e.ref ? [e.ref] : [])))];
    if (refs.length) {
      const byRef = await this.bodies(refs, entries);
      if (!byRef) return null;
      // A body that expired reads as a gap (older than the log holds).
      for (const entry of entries) if (entry.ref) entry.body = byRef.get(entry.ref) ?? null;
    }
    return judgeRead(after, limit, upTo, Number(counter), entries, this.limits, now);
  }

  /**
   * DEL of the user's stream (their log and counter, one key). It waits for the appends asked for
   * before it (an empty append goes out with, and is answered after, the batches queued ahead of
   * it), so none of them makes the stream again after the DEL; a pending gap entry is forgotten
   * for the same reason. The bodies shared with other users stay theirs until they expire.
   */
  async drop(userId: string): Promise<void> {
    await this.append([]);
    this.gaps.delete(userId);
    this.users.delete(userId);
    await this.redis.bounded('event log drop', (c) => c.del(this.streamKey(userId)), null);
  }

  /**
   * The shared bodies the entries name. On a Redis Cluster a body's key is in a slot of its own,
   * written in parallel with the entries that name it (one batch, several primaries), so a read
   * right after an append can find an entry whose body is not there yet: a missing body of an
   * entry appended within BODY_IN_FLIGHT_MS is asked again (every BODY_RETRY_MS) before it counts
   * as expired. On one Redis the body is written before its entries, in the same pipeline.
   */
  private async bodies(refs: string[], entries: ReadEntry[]): Promise<Map<string, Buffer | null> | null> {
    const byRef = new Map<string, Buffer | null>();
    let missing = refs;
    for (let attempt = 0; ; attempt++) {
      const found = await this.redis.bounded('event log bodies', (c) => Promise.all(missing.map((ref) => c.getBuffer(ref))), null);
      if (!found) return null;
      missing.forEach((ref, i) => byRef.set(ref, found[i]));
      const youngest = Date.now() - BODY_IN_FLIGHT_MS;
      missing = missing.filter((ref) => !byRef.get(ref) && entries.some((e) => e.ref === ref && e.at >= youngest));
      if (!missing.length || attempt * BODY_RETRY_MS >= BODY_IN_FLIGHT_MS) return byRef;
      await new Promise((resolve) => setTimeout(resolve, BODY_RETRY_MS));
    }
  }

  private async flush(): Promise<void> {
    const queued = this.queue;
    this.queue = [];
    const ttl = bulk(String(this.limits.maxAgeMs));
    const shared: Array<string | Buffer> = [];
    let sharedCount = 0;
    /** The batch's distinct events, as runs hold them; entry 0 is the gap. */
    const entries: Piece[] = [GAP];
    const root = new EntryList();
    const appends = new Map<string, PendingUser>();
    for (const item of queued) {
      item.audiences.forEach(({ userIds, body }, a) => {
        if (userIds.length > 1) {
          const key = this.redis.key(`{ev:${randomUUID()}}`);
          shared.push(`*5\r\n$3\r\nSET\r\n${bulk(key)}$${body.length}\r\n`, body, `\r\n$2\r\nPX\r\n${ttl}`);
          sharedCount++;
          entries.push([`r${key}`]);
        } else entries.push(['b', body]);
        const entry = entries.length - 1;
        const seqs = item.seqs[a];
        for (let index = 0; index < userIds.length; index++) {
          const userId = userIds[index];
          let pending = appends.get(userId);
          if (!pending) {
            appends.set(userId, (pending = { list: root, targets: [] }));
            if (this.gaps.has(userId)) {
              pending.list = root.then(0);
              pending.targets.push(null);
            }
          }
          pending.list = pending.list.then(entry);
          pending.targets.push({ seqs, index });
        }
      });
    }
    await this.appendAll(appends, entries, shared, sharedCount, (userId, first) => {
      if (first === null) return this.markGap(userId);
      this.gaps.delete(userId);
      appends.get(userId)!.targets.forEach((target, j) => {
        if (target) target.seqs[target.index] = first + j;
      });
    });
    for (const item of queued) item.resolve(item.seqs);
  }

  /**
   * Sends the script calls of `appends` (each user's events, indices into `entries`; one call per
   * shard on a Redis Cluster, per MAX_CALL_USERS users on one server), after `prefix`
   * (`prefixCount` other commands), in one write; calls `appended` for each user with their first
   * new seq, or null when their call failed.
   */
  private async appendAll(
    appends: Map<string, { list: EntryList }>,
    entries: Piece[],
    prefix: Array<string | Buffer>,
    prefixCount: number,
    appended: (userId: string, first: number | null) => void,
  ): Promise<void> {
    const nowMs = Date.now();
    const now = bulk(String(nowMs));
    const refreshBefore = nowMs - this.refreshMs;
    let seen = 0;
    const calls = shardCalls(appends, this.clustered ? this.shardOfUser : () => Math.floor(seen++ / MAX_CALL_USERS));
    if (!calls.length && !prefixCount) return;
    const commands = prefix;
    for (const call of calls) {
      let args = 0;
      let keys = '';
      let users = '';
      /** The call's runs, `count value` pairs in RESP, made once per distinct list of events. */
      const runs: Array<string | Buffer> = [];
      let runCount = 0;
      let listRuns = '';
      let listRunCount = 0;
      call.userIds.forEach((userId, u) => {
        const cached = this.user(userId);
        keys += cached.key;
        const refresh = cached.refreshedAt <= refreshBefore ? 1 : 0;
        if (refresh) cached.refreshedAt = nowMs;
        const list = call.lists[u];
        if (list) {
          listRuns = '';
          listRunCount = pushRuns(runs, list.map((local) => entries[call.entries[local]]));
          for (let r = 0; r < listRunCount; r++) listRuns += bulk(String(runCount++));
        }
        users += bulk(String((list ? 2 * listRunCount : 0) + refresh));
        args++;
        if (!list) return;
        users += listRuns;
        args += listRunCount;
      });
      const n = call.userIds.length;
      commands.push(`*${5 + n + 2 * runCount + args}\r\n${this.appendHead}${bulk(String(n))}${keys}${now}${bulk(String(runCount))}`, ...runs, users);
    }
    const replies = await this.pipe.exec(commands, prefixCount + calls.length).catch(() => null);
    calls.forEach((call, c) => {
      const firsts = replies?.[prefixCount + c];
      if (!Array.isArray(firsts)) {
        // The script cache was flushed under the connection: load it again for the next batches.
        if (firsts instanceof Error && firsts.message.startsWith('NOSCRIPT')) void this.redis.bounded('event log script', (c) => this.appendLua.load(c), null);
      }
      call.userIds.forEach((userId, u) => {
        const first = Array.isArray(firsts) ? firsts[u] : null;
        if (typeof first === 'number') return appended(userId, first);
        // Not appended: its TTL was not refreshed either.
        this.users.delete(userId);
        appended(userId, null);
      });
    });
  }

  /**
   * An event this user should have had in the log is missing: the next append for the user (or
   * the retry timer) first writes a gap entry, so a position before it resyncs instead of
   * replaying around the hole. Until then a position from before the hole may replay without it.
   */
  private markGap(userId: string): void {
    this.gaps.delete(userId);
    this.gaps.add(userId);
    if (this.gaps.size > MAX_PENDING_GAPS) this.gaps.delete(this.gaps.values().next().value!);
    this.gapTimer ??= setTimeout(() => void this.retryGaps(), GAP_RETRY_MS).unref();
  }

  private async retryGaps(): Promise<void> {
    this.gapTimer = null;
    const gap = new EntryList().then(0);
    const appends = new Map([...this.gaps].map((userId) => [userId, { list: gap }]));
    await this.appendAll(appends, [GAP], [], 0, (userId, first) => {
      if (first !== null) this.gaps.delete(userId);
    });
    if (this.gaps.size) this.gapTimer ??= setTimeout(() => void this.retryGaps(), GAP_RETRY_MS).unref();
  }

  private user(userId: string): CachedUser {
    let user = this.users.get(userId);
    if (user === undefined) {
      if (this.users.size >= MAX_CACHED_USERS) this.users.clear();
      const shard = shardOf(userId);
      this.users.set(userId, (user = { shard, key: bulk(this.key(shard, userId)), refreshedAt: 0 }));
    }
    return user;
  }

  private readonly shardOfUser = (userId: string): number => this.user(userId).shard;

  private streamKey(userId: string): string {
    return this.key(shardOf(userId), userId);
  }

  private key(shard: number, userId: string): string {
    return this.redis.key(`{s:${shard}}`, 'log', userId);
  }

}

/**
 * Adds a user's new events to `out` as runs, each a `count value` pair in RESP (the value: the
 * events' pieces joined by newlines), cut at MAX_RUN events and, but for a single event,
 * MAX_RUN_BYTES. Returns how many runs it added. The strings between two bodies go out as one
 * piece (each piece costs a write into the batch's buffer).
 */
function pushRuns(out: Array<string | Buffer>, pieces: Piece[]): number {
  let count = 0;
  let start = 0;
  /** The run's events' sizes, each with its newline (the value is one byte shorter). */
  let bytes = 0;
  /** Text not yet pushed: it is joined with what follows up to the next body. */
  let text = '';
  const flush = (end: number) => {
    text += `${bulk(String(end - start))}$${bytes - 1}\r\n`;
    for (let i = start; i < end; i++) {
      if (i > start) text += '\n';
      for (const part of pieces[i]) {
        if (typeof part === 'string') text += part;
        else {
          out.push(text, part);
          text = '';
        }
      }
    }
    text += '\r\n';
    count++;
  };
  pieces.forEach((piece, i) => {
    let size = 1;
    for (const part of piece) size += part.length;
    if (i > start && (i - start === MAX_RUN || bytes + size > MAX_RUN_BYTES)) {
      flush(i);
      start = i;
      bytes = 0;
    }
    bytes += size;
  });
  if (pieces.length) flush(pieces.length);
  if (text) out.push(text);
  return count;
}

/** One event of a run as read: `b<body>`, `r<key of the shared body>` or `g` (a gap: no body). */
function readEvent(seq: number, at: number, event: string): ReadEntry {
  const kind = event[0];
  if (kind === 'b') return { seq, at, body: Buffer.from(event.slice(1)) };
  if (kind === 'r') return { seq, at, body: null, ref: event.slice(1) };
  return { seq, at, body: null };
}
