import { once } from 'node:events';
import { AddressInfo, createServer, Server, Socket } from 'node:net';
import { parseRedisUrl, RedisServer } from '../config/redis-url';
import { bulk, command, RespPipe, RespSetupRefused } from './resp-pipe';

/** A stand-in Redis: records what arrives and answers each command with what `answer` says, in chunks of `chunk` bytes. */
class FakeRedis {
  readonly received: string[] = [];
  readonly sockets: Socket[] = [];
  answer: (args: string[]) => string = () => ':1\r\n';
  chunk = Infinity;
  silent = false;
  private server!: Server;
  port = 0;

  async start(): Promise<this> {
    this.server = createServer((socket) => {
      this.sockets.push(socket);
      let pending = '';
      socket.on('data', (data) => {
        pending += data.toString('latin1');
        for (;;) {
          const parsed = parseCommand(pending);
          if (!parsed) break;
          pending = pending.slice(parsed.length);
          this.received.push(parsed.args.join(' '));
          if (this.silent) continue;
          const reply = Buffer.from(this.answer(parsed.args), 'utf8');
          for (let i = 0; i < reply.length; i += this.chunk) socket.write(reply.subarray(i, Math.min(reply.length, i + this.chunk)));
        }
      });
    });
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  async stop(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
  }
}

function parseCommand(text: string): { args: string[]; length: number } | null {
  const head = /^\*(\d+)\r\n/.exec(text);
  if (!head) return null;
  let offset = head[0].length;
  const args: string[] = [];
  for (let i = 0; i < Number(head[1]); i++) {
    const len = /^\$(\d+)\r\n/.exec(text.slice(offset));
    if (!len) return null;
    offset += len[0].length;
    if (text.length < offset + Number(len[1]) + 2) return null;
    args.push(text.slice(offset, offset + Number(len[1])));
    offset += Number(len[1]) + 2;
  }
  return { args, length: offset };
}

/** The server a REDIS_URL names, as RedisService hands it to RespPipe. */
const server = (url: string) => parseRedisUrl(url) as RedisServer;

describe('RespPipe', () => {
  let redis: FakeRedis;
  let pipe: RespPipe;
  beforeEach(async () => (redis = await new FakeRedis().start()));
  afterEach(async () => {
    pipe?.close();
    await redis.stop();
  });

  it('sends the preamble first, then a batch in one write, and reads replies split at every byte', async () => {
    pipe = new RespPipe(server(`redis://:se%20cret@127.0.0.1:${redis.port}/3`), 'test', () => [command('SCRIPT', 'LOAD', 'return 1')], 1000);
    redis.chunk = 1;
    redis.answer = ([name, value]) => {
      if (name === 'INCRBY') return `:${1_796_000_000_000_000 + Number(value)}\r\n`;
      if (name === 'GET') return value === 'none' ? '$-1\r\n' : `$${Buffer.byteLength(value)}\r\n${value}\r\n`;
      if (name === 'BAD') return '-ERR unknown command\r\n';
      return '+OK\r\n';
    };
    const replies = await pipe.exec(command('INCRBY', '5') + command('GET', 'é'.repeat(3)) + command('GET', 'none') + command('BAD') + command('INCRBY', '-1796000000000007'), 5);
    expect(replies.slice(0, 3)).toEqual([1_796_000_000_000_005, 'é'.repeat(3), null]);
    expect(replies[3]).toEqual(new Error('ERR unknown command'));
    expect(replies[4]).toBe(-7);
    expect(redis.received.slice(0, 3)).toEqual(['AUTH se cret', 'SELECT 3', 'SCRIPT LOAD return 1']);
  });

  it('authenticates with a non-ASCII user and password as their UTF-8 bytes, as redis-cli and ioredis send them', async () => {
    pipe = new RespPipe(server(`redis://%C3%BCser:p%C3%A4ssw%C3%B6rd-123@127.0.0.1:${redis.port}`), 'test', () => [], 1000);
    expect(await pipe.exec(command('PING'), 1)).toEqual([1]);
    const utf8 = (text: string) => Buffer.from(text, 'utf8').toString('latin1');
    expect(redis.received[0]).toBe(`AUTH ${utf8('üser')} ${utf8('pässwörd-123')}`);
  });

  it('authenticates a user without a password as ioredis does (AUTH user ""), so both connect as the same user', async () => {
    pipe = new RespPipe(server(`redis://app@127.0.0.1:${redis.port}`), 'test', () => [], 1000);
    expect(await pipe.exec(command('PING'), 1)).toEqual([1]);
    expect(redis.received[0]).toBe('AUTH app ');
  });

  it('is not ready when Redis refuses the SELECT of its setup, naming it (a database Redis does not have)', async () => {
    pipe = new RespPipe(server(`redis://127.0.0.1:${redis.port}/99`), 'test', () => [], 1000);
    redis.answer = ([name]) => (name === 'SELECT' ? '-ERR DB index is out of range\r\n' : '+OK\r\n');
    const refused = await pipe.ready().then(() => null, (error: Error) => error);
    expect(refused).toBeInstanceOf(RespSetupRefused);
    expect(refused!.message).toBe('SELECT 99 refused: ERR DB index is out of range');
    expect(redis.received).toEqual(['SELECT 99', 'PING']);
  });

  it('reads arrays (a script answering a list of seqs), nested and nil, split at every byte', async () => {
    pipe = new RespPipe(server(`redis://127.0.0.1:${redis.port}`), 'test', () => [], 1000);
    redis.chunk = 1;
    redis.answer = ([name]) => {
      if (name === 'EVALSHA') return '*3\r\n:1796000000000001\r\n$-1\r\n*2\r\n+OK\r\n$2\r\nhi\r\n';
      if (name === 'EMPTY') return '*0\r\n';
      if (name === 'NIL') return '*-1\r\n';
      return ':7\r\n';
    };
    const replies = await pipe.exec(command('EVALSHA') + command('EMPTY') + command('NIL') + command('PING'), 4);
    expect(replies).toEqual([[1_796_000_000_000_001, null, ['OK', 'hi']], [], null, 7]);
  });

  it('sends batches of strings and buffers intact, one after another and many at once, through its kept write buffer', async () => {
    pipe = new RespPipe(server(`redis://127.0.0.1:${redis.port}`), 'test', () => [], 5_000);
    // Sizes that grow past the kept buffer, shrink back under it, and pass its cap.
    const sizes = [1_000, 70_000, 3_000, 200_000, 150_000, 5_000_000, 90_000, 10, 260_000, 64 * 1024];
    const batch = (i: number) => {
      const body = Buffer.alloc(sizes[i % sizes.length], 97 + (i % 26));
      return { pieces: [`*3\r\n${bulk('SET')}${bulk(`k${i}`)}$${body.length}\r\n`, body, '\r\n'], expected: `SET k${i} ${body.toString('latin1')}` };
    };
    const made = Array.from({ length: 30 }, (_, i) => batch(i));
    for (const { pieces } of made.slice(0, 10)) expect(await pipe.exec(pieces, 1)).toEqual([1]);
    // Twenty more without waiting: each write starts while the ones before may still be on their way.
    expect(await Promise.all(made.slice(10).map(({ pieces }) => pipe.exec(pieces, 1)))).toEqual(made.slice(10).map(() => [1]));
    expect(redis.received).toHaveLength(30);
    redis.received.forEach((got, i) => {
      if (got !== made[i].expected) throw new Error(`batch ${i} arrived changed (${got.length} bytes against ${made[i].expected.length})`);
    });
  });

  it('fails a batch left unanswered, then fails at once for a second, then connects again', async () => {
    pipe = new RespPipe(server(`redis://127.0.0.1:${redis.port}`), 'test', () => [], 100);
    redis.silent = true;
    await expect(pipe.exec(command('PING'), 1)).rejects.toThrow(/no answer within 100 ms/);
    await expect(pipe.exec(command('PING'), 1)).rejects.toThrow(/unreachable/);
    redis.silent = false;
    await new Promise((resolve) => setTimeout(resolve, 1_050));
    expect(await pipe.exec(command('PING'), 1)).toEqual([1]);
    expect(redis.sockets).toHaveLength(2);
  });

  it('fails what is under way when the server drops the connection, and comes back after it closed idle', async () => {
    pipe = new RespPipe(server(`redis://127.0.0.1:${redis.port}`), 'test', () => [], 1000);
    expect(await pipe.exec(command('PING'), 1)).toEqual([1]);
    redis.silent = true;
    const lost = pipe.exec(command('PING'), 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    redis.sockets[0].destroy();
    await expect(lost).rejects.toThrow();
    redis.silent = false;
    await new Promise((resolve) => setTimeout(resolve, 1_050));
    expect(await pipe.exec(command('PING'), 1)).toEqual([1]);
    // A connection closed while idle is simply made again, without the pause.
    redis.sockets[1].destroy();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await pipe.exec(command('PING'), 1)).toEqual([1]);
  });
});
