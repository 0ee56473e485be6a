import { createHash } from 'node:crypto';
import { Cluster } from 'ioredis';
import type { RedisClient } from './redis.service';

/**
 * A Lua script run by its SHA-1 (EVALSHA): Redis neither receives nor hashes its text on every
 * call. A Redis that does not know it yet (first use, a restart, a failover) answers NOSCRIPT,
 * and the call is made once more with the text (EVAL), which also loads it.
 */
export class RedisScript {
  readonly sha: string;

  constructor(readonly lua: string) {
    // RESP pipes send a script's text as latin1 (SCRIPT LOAD in RespPipe's preamble): a character
    // beyond ASCII would load it under another SHA than this one, and every EVALSHA would miss.
    if (/[^\x00-\x7f]/.test(lua)) throw new Error('A Redis script must be ASCII text');
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /**
   * Loads the script ahead of its first run (so a burst of first calls does not each answer
   * NOSCRIPT). On a cluster every primary has its own script cache: it is loaded on each.
   */
  async load(client: RedisClient): Promise<void> {
    if (client instanceof Cluster) await Promise.all(client.nodes('master').map((node) => node.script('LOAD', this.lua)));
    else await client.script('LOAD', this.lua);
  }

  async run<T>(client: RedisClient, keys: string[], args: Array<string | number | Buffer>): Promise<T> {
    try {
      return (await client.evalsha(this.sha, keys.length, ...keys, ...args)) as T;
    } catch (error) {
      if (!(error as Error).message?.startsWith('NOSCRIPT')) throw error;
      return (await client.eval(this.lua, keys.length, ...keys, ...args)) as T;
    }
  }
}
