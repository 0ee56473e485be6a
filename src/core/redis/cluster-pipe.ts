import { createHash } from 'node:crypto';
import type { Cluster } from 'ioredis';
import { withTimeout } from '../async/with-timeout';
import { RETRY_AFTER_MS, type RespReply } from './resp-pipe';

/**
 * RespPipe's stand-in on a Redis Cluster. RespPipe writes encoded commands to the one server of
 * the URL and cannot route by slot; here the same encoded commands are decoded back into their
 * arguments and sent through the ioredis Cluster client, which routes each by its key's slot
 * (following MOVED/ASK) and, with auto-pipelining, still writes one batch per primary. It gives
 * up RespPipe's CPU saving (an ioredis command object per command), not its contract: replies in
 * order, a command's error as its reply, a batch not answered within `timeoutMs` fails, and so
 * does every batch while the cluster is not ready, and for RETRY_AFTER_MS after one went
 * unanswered (a primary that answers nothing: each batch sent to it would wait in ioredis's queue,
 * with its message bodies, until the connection is found dead).
 *
 * Every primary has its own script cache: the scripts the preamble loads (`SCRIPT LOAD`) are
 * loaded on every primary before the first batch (so commands keep their order), and an EVALSHA
 * a primary still answers NOSCRIPT (a failover, a new primary) is sent once more as EVAL, which
 * loads it there, and the next batch loads them everywhere again.
 */
export class ClusterPipe {
  private readonly scripts = new Map<string, Buffer>();
  private loaded: Promise<void> | null = null;
  private closed = false;
  private unansweredAt = -Infinity;

  constructor(
    private readonly client: () => Cluster,
    preamble: () => string[],
    private readonly timeoutMs: number,
  ) {
    for (const [name, sub, lua] of decodeCommands(Buffer.from(preamble().join(''), 'latin1'))) {
      if (name.toString().toUpperCase() === 'SCRIPT' && sub?.toString().toUpperCase() === 'LOAD' && lua) {
        this.scripts.set(createHash('sha1').update(lua).digest('hex'), lua);
      }
    }
  }

  exec(commands: string | Array<string | Buffer>, count: number): Promise<RespReply[]> {
    if (this.closed) return Promise.reject(new Error('closed'));
    const client = this.client();
    if (client.status !== 'ready') return Promise.reject(new Error('Redis unreachable'));
    if (Date.now() - this.unansweredAt < RETRY_AFTER_MS) return Promise.reject(new Error('Redis not answering'));
    const pieces = typeof commands === 'string' ? [commands] : commands;
    const decoded = decodeCommands(Buffer.concat(pieces.map((p) => (typeof p === 'string' ? Buffer.from(p, 'latin1') : p))));
    if (decoded.length !== count) return Promise.reject(new Error(`expected ${count} commands, got ${decoded.length}`));
    // The load gives up no later than this batch would (it began no later): a batch waiting on it
    // is sent before its caller is told it failed, never after.
    this.loaded ??= this.loadScripts(client);
    const replying = this.loaded.then(() => Promise.all(decoded.map((args) => this.send(client, args))));
    return withTimeout(replying, this.timeoutMs, null).then((replies) => {
      if (!replies) {
        this.unansweredAt = Date.now();
        throw new Error(`no answer within ${this.timeoutMs} ms`);
      }
      return replies;
    });
  }

  close(): void {
    this.closed = true;
  }

  /** Bounded like a batch: a load left unanswered is tried again by the next batch, and holds no batch meanwhile. */
  private loadScripts(client: Cluster): Promise<void> {
    const scripts = [...this.scripts.values()];
    const loading = Promise.all(client.nodes('master').flatMap((node) => scripts.map((lua) => node.script('LOAD', lua)))).then(
      () => true,
      () => false,
    );
    const loaded: Promise<void> = withTimeout(loading, this.timeoutMs, false).then((done) => {
      if (!done && this.loaded === loaded) this.loaded = null;
    });
    return loaded;
  }

  private async send(client: Cluster, [name, ...args]: Buffer[]): Promise<RespReply> {
    const command = name.toString('latin1');
    try {
      return reply(await client.call(command, ...args));
    } catch (error) {
      const lua = command.toUpperCase() === 'EVALSHA' && (error as Error).message?.startsWith('NOSCRIPT') ? this.scripts.get(args[0].toString('latin1')) : undefined;
      if (!lua) return error as Error;
      this.loaded = null;
      return client.call('EVAL', lua, ...args.slice(1)).then(reply, (e: Error) => e);
    }
  }
}

/** ioredis's reply as RespPipe gives it: integers, strings, nil, errors, and arrays of those as arrays. */
function reply(value: unknown): RespReply {
  if (Array.isArray(value)) return value.map(reply) as unknown as RespReply;
  return typeof value === 'number' || typeof value === 'string' || value === null || value instanceof Error ? value : String(value);
}

/** Encoded RESP commands (arrays of bulk strings, back to back) as their arguments. */
export function decodeCommands(data: Buffer): Buffer[][] {
  const out: Buffer[][] = [];
  let at = 0;
  const line = (): string => {
    const end = data.indexOf('\r\n', at, 'latin1');
    if (end < 0) throw new Error('truncated RESP');
    const text = data.toString('latin1', at, end);
    at = end + 2;
    return text;
  };
  while (at < data.length) {
    const head = line();
    if (head[0] !== '*') throw new Error(`not a RESP command: ${head.slice(0, 20)}`);
    const args: Buffer[] = [];
    for (let n = Number(head.slice(1)); n > 0; n--) {
      const size = line();
      if (size[0] !== '$') throw new Error('not a RESP bulk string');
      const length = Number(size.slice(1));
      args.push(data.subarray(at, at + length));
      at += length + 2;
    }
    out.push(args);
  }
  return out;
}
