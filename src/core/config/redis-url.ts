/**
 * Where Redis is. `REDIS_URL` names either one server,
 * `redis://[user:password@]host:port[/<db>]` (`rediss://` for TLS), or a Redis Cluster:
 * `redis+cluster://[user:password@]host:port,host:port/` (`rediss+cluster` for TLS). A cluster
 * URL lists seed nodes: ioredis asks any of them for the slot map and then talks to every
 * primary itself, so two or three seeds are enough.
 *
 * Read here once, into the fields every connection is made from (the ioredis connections and
 * the event log's RespPipe): each reading the URL its own way let them differ. ioredis also takes
 * options from a query (`?db=5`, `?password=…`) that RespPipe did not, and the event log went to
 * database 0 while all else went to 5. So a query is refused (never documented: the path and the
 * user part say the same), and so is a path that is not a database number.
 */
export type RedisTarget = RedisServer | { kind: 'cluster'; nodes: Array<{ host: string; port: number }>; username?: string; password?: string; tls: boolean };

/** One server. `username` and `password` as ioredis takes them from a URL: both set (the user maybe '') when the URL names either. */
export interface RedisServer {
  kind: 'single';
  host: string;
  port: number;
  /** The database (SELECT), 0 when the URL has no path. */
  db: number;
  username?: string;
  password?: string;
  tls: boolean;
}

const CLUSTER_URL = /^(rediss?)\+cluster:\/\/(?:([^@/]*)@)?([^/?#@]+)\/?(?:0)?$/i;
const NODE = /^(?:\[([0-9a-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/i;
/** A database number as the path: Redis has 16 unless its `databases` setting says otherwise. */
const DATABASE_PATH = /^\/(\d{1,9})$/;
const HOW_TO_WRITE = 'write redis://[user:password@]host:port/<db> (rediss:// for TLS)';

/** The target `raw` names, or undefined when it is not a redis://, rediss:// or redis+cluster:// URL, or one refused (redisUrlProblem). */
export function parseRedisUrl(raw: string): RedisTarget | undefined {
  const read = readRedisUrl(raw);
  return typeof read === 'string' ? undefined : read;
}

/**
 * Why `raw`, a Redis URL, is refused when the reason is more precise than "not a Redis URL":
 * options in a query, a path that is not a database number. Undefined otherwise.
 */
export function redisUrlProblem(raw: string): string | undefined {
  const read = readRedisUrl(raw);
  return typeof read === 'string' ? read : undefined;
}

function readRedisUrl(raw: string): RedisTarget | string | undefined {
  if (/^rediss?\+cluster:/i.test(raw)) return readCluster(raw);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  if (!['redis:', 'rediss:'].includes(url.protocol)) return undefined;
  if (url.search || url.hash) {
    return `sets options after its host (a ?query or #fragment), which only some of the server's Redis connections would read: ${HOW_TO_WRITE}`;
  }
  const path = DATABASE_PATH.exec(url.pathname);
  if (url.pathname !== '' && url.pathname !== '/' && !path) return `has a path that is not a database number: ${HOW_TO_WRITE}`;
  let username: string | undefined;
  let password: string | undefined;
  if (url.username || url.password) {
    try {
      username = decodeURIComponent(url.username);
      password = decodeURIComponent(url.password);
    } catch {
      return undefined;
    }
  }
  return {
    kind: 'single',
    // ioredis's own defaults, for a URL without them.
    host: url.hostname.replace(/^\[|\]$/g, '') || 'localhost',
    port: Number(url.port || 6379),
    db: path ? Number(path[1]) : 0,
    username,
    password,
    tls: url.protocol === 'rediss:',
  };
}

function readCluster(raw: string): RedisTarget | string | undefined {
  const cluster = CLUSTER_URL.exec(raw);
  if (!cluster) {
    if (/^[^?#]*[?#]/.test(raw)) return 'sets options after its hosts (a ?query or #fragment), which are not read: write redis+cluster://[user:password@]host:port,host:port';
    return /^[^/]*\/\/[^/]*\/./.test(raw) ? 'has a path: a Redis Cluster has database 0 only (redis+cluster://[user:password@]host:port,host:port)' : undefined;
  }
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
