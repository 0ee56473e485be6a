import Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { RedisScript } from './redis-script';

const url = process.env.REDIS_URL;

(url ? describe : describe.skip)('RedisScript', () => {
  let client: Redis;
  beforeAll(async () => {
    client = new Redis(url!);
    await client.ping();
  });
  afterAll(() => client.quit());

  it('runs a script Redis does not know yet (NOSCRIPT, then EVAL), and by its SHA-1 from then on', async () => {
    // A script of its own (the comment), so this Redis has never seen it.
    const script = new RedisScript(`-- ${randomUUID()}\nreturn {KEYS[1], ARGV[1]}`);
    const calls: string[] = [];
    const spy = client.sendCommand.bind(client);
    client.sendCommand = ((command: { name: string }) => (calls.push(command.name), spy(command as never))) as typeof client.sendCommand;
    expect(await script.run(client, ['k'], ['v'])).toEqual(['k', 'v']);
    expect(await script.run(client, ['k2'], [2])).toEqual(['k2', '2']);
    client.sendCommand = spy;
    expect(calls).toEqual(['evalsha', 'eval', 'evalsha']);
  });

  it('refuses a script that is not ASCII (a RESP pipe loads its text as latin1, under another SHA)', () => {
    expect(() => new RedisScript('-- 5 \u00b5s\nreturn 1')).toThrow(/ASCII/);
  });

  it('passes on other errors', async () => {
    await expect(new RedisScript(`return redis.error_reply('nope ${randomUUID()}')`).run(client, [], [])).rejects.toThrow(/nope/);
  });
});
