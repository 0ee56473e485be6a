/**
 * Where Redis is. `REDIS_URL` names either one server (`redis://` or `rediss://`, as ioredis reads
 * it) or a Redis Cluster: `redis+cluster://[user:password@]host:port,host:port/` (`rediss+cluster`
 * for TLS). A cluster URL lists seed nodes: ioredis asks any of them for the slot map and then
 * talks to every primary itself, so two or three seeds are enough.
 */
export type RedisTarget =
  | { kind: 'single'; url: string }
  | { kind: 'cluster'; nodes: Array<{ host: string; port: number }>; username?: string; password?: string; tls: boolean };

const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#@]+)\/?(?:0)?$/i;
const NODE = /^(?:\[([0-9a-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/i;

/** The target `raw` names, or undefined when it is not a redis://, rediss:// or redis+cluster:// URL. */
export function parseRedisUrl(raw: string): RedisTarget | undefined {
  const cluster = CLUSTER_URL.exec(raw);
  if (cluster) {
    const [, scheme, userinfo, hostList] = cluster;
    const nodes: Array<{ host: string; port: number }> = [];
    for (const item of hostList.split(',')) {
      const node = NODE.exec(item.trim());
      const port = Number(node?.[3]);
      if (!node || port < 1 || port > 65535) return undefined;
      nodes.push({ host: node[1] ?? node[2], port });
    }
    let username: string | undefined;
    let password: string | undefined;
    if (userinfo) {
      const colon = userinfo.indexOf(':');
      try {
        username = decodeURIComponent(colon < 0 ? userinfo : userinfo.slice(0, colon)) || undefined;
        password = colon < 0 ? undefined : decodeURIComponent(userinfo.slice(colon + 1)) || undefined;
      } catch {
        return undefined;
      }
    }
    return { kind: 'cluster', nodes, username, password, tls: scheme.toLowerCase() === 'rediss' };
  }
  try {
    const url = new URL(raw);
    // Decoded on connecting (ioredis, RespPipe): a malformed escape would throw there instead.
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
    return ['redis:', 'rediss:'].includes(url.protocol) ? { kind: 'single', url: raw } : undefined;
  } catch {
    return undefined;
  }
}
