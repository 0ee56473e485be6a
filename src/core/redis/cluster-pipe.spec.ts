import { Cluster } from 'ioredis';
import { createHash, randomUUID } from 'node:crypto';
import { ClusterPipe, decodeCommands } from './cluster-pipe';
import { keySlot } from './key-slot';
import { bulk, command } from './resp-pipe';

describe('decodeCommands', () => {
  it('reads encoded commands back into their arguments, bytes as they were', () => {
    const body = Buffer.from([0xff, 0x0d, 0x0a, 0x00]);
    const encoded = Buffer.concat([Buffer.from(command('SET', 'k', 'v'), 'latin1'), Buffer.from(`*2\r\n${bulk('GET')}$4\r\n`, 'latin1'), body, Buffer.from('\r\n')]);
    expect(decodeCommands(encoded)).toEqual([
      [Buffer.from('SET'), Buffer.from('k'), Buffer.from('v')],
      [Buffer.from('GET'), body],
    ]);
  });

  it('refuses what is not a command', () => {
    expect(() => decodeCommands(Buffer.from('+OK\r\n'))).toThrow(/not a RESP command/);
  });
});

const nodes = process.env.REDIS_CLUSTER_TEST_NODES?.trim();

(nodes ? describe : describe.skip)(`ClusterPipe on a Redis Cluster${nodes ? '' : ' (skipped: REDIS_CLUSTER_TEST_NODES is unset)'}`, () => {
  let cluster: Cluster;
  const prefix = `t_pipe_${randomUUID().slice(0, 8)}`;
  beforeAll(async () => {
    cluster = new Cluster(nodes!.split(',').map((n) => ({ host: n.split(':')[0], port: Number(n.split(':')[1]) })), { enableAutoPipelining: true });
    await new Promise((resolve) => cluster.once('ready', resolve));
  });
  afterAll(async () => {
    for (const node of cluster.nodes('master')) for (const key of await node.keys(`{${prefix}*`)) await node.del(key);
    await cluster.quit();
  });

  it('routes each command by its key, in order, runs the preamble\'s script on every primary, and answers errors in place', async () => {
    // A script of its own (the comment), so no primary has it cached yet.
    const lua = `-- ${randomUUID()}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])`;
    const pipe = new ClusterPipe(() => cluster, () => [command('SCRIPT', 'LOAD', lua)], 1_000);
    const sha = createHash('sha1').update(lua).digest('hex');
    // Keys on at least two slots (so two primaries on a 3-primary cluster, most likely).
    const keys = ['a', 'b', 'c', 'd', 'e'].map((k) => `{${prefix}${k}}`);
    expect(new Set(keys.map(keySlot)).size).toBeGreaterThan(1);
    const commands = [
      ...keys.map((key, i) => command('EVALSHA', sha, '1', key, String(i + 1))),
      command('EVALSHA', '0'.repeat(40), '1', keys[0]),
      command('GET', keys[4]),
      command('EVAL', 'return {KEYS[1], 7, {ARGV[1]}}', '1', keys[3], 'x'),
    ];
    const replies = await pipe.exec(commands, commands.length);
    expect(replies.slice(0, 5)).toEqual([1, 2, 3, 4, 5]);
    expect(replies[5]).toBeInstanceOf(Error);
    expect(replies[6]).toBe('5');
    expect(replies[7]).toEqual([keys[3], 7, ['x']]);
    // A primary that lost its script cache (a restart, a failover) still runs it.
    await Promise.all(cluster.nodes('master').map((node) => node.script('FLUSH')));
    expect(await pipe.exec([command('EVALSHA', sha, '1', keys[0], '10'), command('EVALSHA', sha, '1', keys[1], '10')], 2)).toEqual([11, 12]);
    expect(await pipe.exec(command('EVALSHA', sha, '1', keys[2], '10'), 1)).toEqual([13]);
  });

  it('fails a batch at once while the cluster is not ready, and after close', async () => {
    const down = { status: 'reconnecting' } as unknown as Cluster;
    await expect(new ClusterPipe(() => down, () => [], 1_000).exec(command('PING'), 1)).rejects.toThrow(/unreachable/);
    const pipe = new ClusterPipe(() => cluster, () => [], 1_000);
    pipe.close();
    await expect(pipe.exec(command('PING'), 1)).rejects.toThrow(/closed/);
  });
});

/**
 * A script load (SCRIPT LOAD on every primary, the preamble) slow to answer (a primary failing
 * over: the NOSCRIPT after a failover is what triggers the reload) must neither hold the batches
 * that timed out meanwhile nor send them once it is answered: their callers were told they failed
 * (the event log marked those users' gaps and delivered the events live) and moved on.
 */
describe('ClusterPipe while its script load is unanswered', () => {
  it('holds no batch past its timeout, and never sends late one its caller was told failed', async () => {
    let answerLoad!: () => void;
    const load = new Promise<string>((resolve) => (answerLoad = () => resolve('sha')));
    const calls: string[][] = [];
    const fake = {
      status: 'ready',
      nodes: () => [{ script: () => load }],
      call: async (...args: Array<string | Buffer>) => {
        calls.push(args.map(String));
        return 1;
      },
    } as unknown as Cluster;
    const pipe = new ClusterPipe(() => fake, () => [command('SCRIPT', 'LOAD', 'return 1')], 20);

    const outcomes: string[] = [];
    for (let i = 0; i < 5; i++) outcomes.push(await pipe.exec(command('SET', `k${i}`, 'body'), 1).then(() => 'sent', () => 'failed'));
    answerLoad();
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Each batch went out once, or was told it failed and never went out.
    const sent = calls.map(([, key]) => key);
    outcomes.forEach((outcome, i) => expect([`k${i}`, outcome, sent.filter((key) => key === `k${i}`).length]).toEqual([`k${i}`, outcome, outcome === 'sent' ? 1 : 0]));
    // The load gave up at the batch's timeout and the batch went on (an EVALSHA answered NOSCRIPT is sent again as EVAL).
    expect(outcomes).toEqual(['sent', 'sent', 'sent', 'sent', 'sent']);
  });
});

describe('ClusterPipe when a primary answers nothing', () => {
  it('fails batches at once for a second after one went unanswered, instead of queueing each behind it', async () => {
    const calls: string[] = [];
    const fake = { status: 'ready', nodes: () => [], call: (...args: Array<string | Buffer>) => (calls.push(String(args[1])), new Promise(() => undefined)) } as unknown as Cluster;
    const pipe = new ClusterPipe(() => fake, () => [], 20);
    await expect(pipe.exec(command('SET', 'k0', 'v'), 1)).rejects.toThrow('no answer within 20 ms');
    await expect(pipe.exec(command('SET', 'k1', 'v'), 1)).rejects.toThrow('Redis not answering');
    expect(calls).toEqual(['k0']);
    const realNow = Date.now.bind(Date);
    const later = jest.spyOn(Date, 'now').mockImplementation(() => realNow() + 1_000);
    try {
      await expect(pipe.exec(command('SET', 'k2', 'v'), 1)).rejects.toThrow('no answer within 20 ms');
      expect(calls).toEqual(['k0', 'k2']);
    } finally {
      later.mockRestore();
    }
  });
});
