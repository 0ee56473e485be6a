import { Logger } from '@nestjs/common';
import { connect as connectTcp, Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { afterResponsive, CancelBound } from '../async/with-timeout';
import type { RedisServer } from '../config/redis-url';

/** A reply: an integer, a status or bulk string, null (a nil bulk or array), the error Redis answered, or an array of replies. */
export type RespReply = number | string | null | Error | RespReply[];

interface Batch {
  left: number;
  replies: RespReply[];
  resolve: (replies: RespReply[]) => void;
  reject: (error: Error) => void;
  /** Cancels the batch's bound (afterResponsive). */
  timer: CancelBound | null;
}

const CRLF = '\r\n';
/** After a failed connection (RespPipe) or an unanswered batch (ClusterPipe), batches fail at once for this long instead of each trying again. */
export const RETRY_AFTER_MS = 1_000;

/** The largest write buffer a pipe keeps for its next batch (a larger batch gets one of its own). */
const MAX_KEPT_BUFFER = 4 * 1024 * 1024;

/** The bytes `pieces` take: strings as latin1 (their length is their byte length), buffers as they are. */
function byteLength(pieces: Array<string | Buffer>): number {
  let total = 0;
  for (const piece of pieces) total += piece.length;
  return total;
}

/** Pieces of RESP written into `out` (at least byteLength(pieces) long) from its start; returns the part written. */
function join(pieces: Array<string | Buffer>, out: Buffer): Buffer {
  let offset = 0;
  for (const piece of pieces) offset += typeof piece === 'string' ? out.write(piece, offset, 'latin1') : piece.copy(out, offset);
  return out.subarray(0, offset);
}

/** One RESP2 bulk string of a latin1 string (ASCII, or bytes carried as latin1): its length is its byte length. */
export function bulk(value: string): string {
  return `$${value.length}${CRLF}${value}${CRLF}`;
}

/** A whole command of latin1 strings. */
export function command(...args: string[]): string {
  let out = `*${args.length}${CRLF}`;
  for (const arg of args) out += bulk(arg);
  return out;
}

/**
 * A user or password as command() carries bytes: its UTF-8 bytes as latin1 (what redis-cli and
 * ioredis send). The text itself would go out as latin1, one byte per character, and a password
 * such as `pässwörd` would fail AUTH on this pipe alone.
 */
function credential(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** Redis refused a command of a new connection's setup (AUTH, SELECT, the preamble): no batch on this pipe can succeed. */
export class RespSetupRefused extends Error {
  constructor(readonly command: string, reply: Error) {
    super(`${command} refused: ${reply.message}`);
    this.name = 'RespSetupRefused';
  }
}

/**
 * A bare RESP2 connection for one hot path: many commands, already encoded, go out in one write
 * and their replies come back as plain values. ioredis costs about 10 µs of CPU per command (a
 * command object, its promise, the generic parser); a message to a group of 200 is 200 appends
 * (one per member's log), which through ioredis cost more than delivering the message does.
 * Here a batch costs one string, one write and one promise.
 *
 * Replies are integers, statuses, errors, bulk strings and arrays of them (RESP2). A batch
 * not answered within `timeoutMs` fails, and so does every batch while the connection is down
 * (the caller degrades); the connection is made again on the next batch, AUTH, SELECT and
 * `preamble` (SCRIPT LOAD) first, from the fields ioredis connects with (parseRedisUrl), so the
 * two never reach different databases. It talks to one server: on a Redis Cluster, one
 * pipe per primary, each command sent to the node of its keys' slot (every command of the event
 * log names keys of one hash tag).
 */
export class RespPipe {
  private readonly logger: Logger;
  private socket: Socket | null = null;
  private readonly pending: Batch[] = [];
  private buffer: Buffer = Buffer.alloc(0);
  private failedAt = 0;
  /** The current socket has connected (a socket that closes while idle after that is simply made again). */
  private connected = false;
  private lastLog = 0;
  private closed = false;
  /** The write buffer kept for the next batch, null while a write is using it (write). */
  private kept: Buffer | null = null;

  constructor(
    private readonly server: RedisServer,
    name: string,
    private readonly preamble: () => string[],
    private readonly timeoutMs: number,
  ) {
    this.logger = new Logger(`Redis ${name}`);
  }

  /**
   * Sends `count` encoded commands in one write: `commands` are pieces of RESP, strings (ASCII,
   * or bytes as latin1) and buffers, put together in one allocation. Resolves the replies in order.
   */
  exec(commands: string | Array<string | Buffer>, count: number): Promise<RespReply[]> {
    if (this.closed) return Promise.reject(new Error('closed'));
    const socket = this.socket ?? this.open();
    if (!socket) return Promise.reject(new Error('Redis unreachable'));
    return new Promise((resolve, reject) => {
      const batch: Batch = { left: count, replies: [], resolve, reject, timer: null };
      batch.timer = afterResponsive(this.timeoutMs, () => this.fail(new Error(`no answer within ${this.timeoutMs} ms`)));
      this.pending.push(batch);
      if (typeof commands === 'string') socket.write(Buffer.from(commands, 'latin1'));
      else this.write(socket, commands);
    });
  }

  /**
   * Writes a batch through the pipe's kept buffer when it is free and large enough: a batch of
   * a busy moment is hundreds of KB, and a fresh allocation of that size each time costs more in
   * page faults than copying the bodies into it does. The buffer is free again once the socket
   * has handed it to the kernel (the write's callback).
   */
  private write(socket: Socket, pieces: Array<string | Buffer>): void {
    const total = byteLength(pieces);
    const kept = this.kept;
    if (kept && kept.length >= total) {
      this.kept = null;
      socket.write(join(pieces, kept), () => (this.kept = kept));
      return;
    }
    if (total > MAX_KEPT_BUFFER) return void socket.write(join(pieces, Buffer.allocUnsafe(total)));
    // Room to grow: the next batches of a busy moment are about this size.
    const fresh = Buffer.allocUnsafeSlow(Math.min(MAX_KEPT_BUFFER, Math.max(64 * 1024, 2 ** Math.ceil(Math.log2(total)))));
    socket.write(join(pieces, fresh), () => (this.kept = fresh));
  }

  /**
   * Connects now and resolves once the setup and a PING are answered: rejects with
   * RespSetupRefused when Redis refused the setup (a database it cannot select), otherwise with
   * the connection's error.
   */
  async ready(): Promise<void> {
    await this.exec(command('PING'), 1);
  }

  close(): void {
    this.closed = true;
    this.fail(new Error('closed'));
  }

  private open(): Socket | null {
    if (Date.now() - this.failedAt < RETRY_AFTER_MS) return null;
    const { host, port, tls, db, username, password } = this.server;
    const socket = tls ? connectTls({ host, port, servername: host }) : connectTcp({ host, port });
    socket.setNoDelay(true);
    this.socket = socket;
    this.connected = false;
    socket.once(tls ? 'secureConnect' : 'connect', () => (this.connected = true));
    this.buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('error', (error: Error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('connection closed')));
    // AUTH as ioredis sends it: with the user whenever there is one (its password maybe empty).
    const auth = username ? [command('AUTH', credential(username), credential(password ?? ''))] : password ? [command('AUTH', credential(password))] : [];
    const preamble = this.preamble();
    const setup = [...auth, ...(db ? [command('SELECT', String(db))] : []), ...preamble];
    const names = [...auth.map(() => 'AUTH'), ...(db ? [`SELECT ${db}`] : []), ...preamble.map(() => 'the preamble')];
    if (setup.length) {
      // Their replies are checked like any batch's: an error there closes the connection.
      const batch: Batch = {
        left: setup.length,
        replies: [],
        resolve: (replies) => {
          const at = replies.findIndex((r) => r instanceof Error);
          if (at >= 0) this.fail(new RespSetupRefused(names[at], replies[at] as Error));
        },
        reject: () => undefined,
        timer: null,
      };
      this.pending.push(batch);
      socket.write(Buffer.from(setup.join(''), 'latin1'));
    }
    return socket;
  }

  /** Fails every batch under way and drops the connection (its replies could not be matched any more). */
  private fail(error: Error): void {
    const socket = this.socket;
    if (!socket && !this.pending.length) return;
    const idle = this.connected && !this.pending.length;
    this.socket = null;
    if (!idle) this.failedAt = Date.now();
    socket?.destroy();
    for (const batch of this.pending.splice(0)) {
      batch.timer?.();
      batch.reject(error);
    }
    const now = Date.now();
    if (!this.closed && !idle && now - this.lastLog > 10_000) {
      this.lastLog = now;
      this.logger.warn(error.message);
    }
  }

  private read(chunk: Buffer): void {
    const data = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    let offset = 0;
    while (offset < data.length) {
      const parsed = parseReply(data, offset);
      if (parsed === INCOMPLETE) break;
      if (parsed === MALFORMED) return this.fail(new Error(`unexpected reply type ${String.fromCharCode(data[offset])}`));
      offset = parsed.next;
      this.deliver(parsed.reply);
    }
    this.buffer = offset < data.length ? data.subarray(offset) : Buffer.alloc(0);
  }

  private deliver(reply: RespReply): void {
    const batch = this.pending[0];
    if (!batch) return this.fail(new Error('a reply nobody asked for'));
    batch.replies.push(reply);
    if (--batch.left) return;
    this.pending.shift();
    batch.timer?.();
    batch.resolve(batch.replies);
  }
}

const INCOMPLETE = 0;
const MALFORMED = 1;

/** Parses the reply at `offset`: the reply and where the next starts, or whether more bytes are needed or the bytes are not RESP2. */
function parseReply(data: Buffer, offset: number): { reply: RespReply; next: number } | typeof INCOMPLETE | typeof MALFORMED {
  const type = data[offset];
  if (type === 0x3a /* : */) {
    // Integers are most replies: read in place, without a string.
    let i = offset + 1;
    const negative = data[i] === 0x2d;
    if (negative) i++;
    let value = 0;
    while (i < data.length && data[i] !== 0x0d) value = value * 10 + (data[i++] - 0x30);
    if (i + 1 >= data.length) return INCOMPLETE;
    return { reply: negative ? -value : value, next: i + 2 };
  }
  const end = data.indexOf(CRLF, offset);
  if (end < 0) return INCOMPLETE;
  const next = end + 2;
  if (type === 0x2b /* + */) return { reply: data.toString('latin1', offset + 1, end), next };
  if (type === 0x2d /* - */) return { reply: new Error(data.toString('utf8', offset + 1, end)), next };
  const length = Number(data.toString('latin1', offset + 1, end));
  if (type === 0x24 /* $ */) {
    if (length < 0) return { reply: null, next };
    if (data.length < next + length + 2) return INCOMPLETE;
    return { reply: data.toString('utf8', next, next + length), next: next + length + 2 };
  }
  if (type === 0x2a /* * */) {
    if (length < 0) return { reply: null, next };
    const items: RespReply[] = [];
    let at = next;
    for (let i = 0; i < length; i++) {
      const item = parseReply(data, at);
      if (item === INCOMPLETE || item === MALFORMED) return item;
      items.push(item.reply);
      at = item.next;
    }
    return { reply: items, next: at };
  }
  return MALFORMED;
}
