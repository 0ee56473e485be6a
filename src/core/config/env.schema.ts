import { createECDH, randomBytes } from 'node:crypto';
import { accessSync, chmodSync, constants, linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseHostPort } from '../outbound/host-port';
import { parseRedisUrl, redisUrlProblem } from './redis-url';

/** The validated configuration: every variable of the design's configuration table, typed. */
export interface AppConfigValues {
  nodeEnv: 'development' | 'production' | 'test';
  port: number;
  databaseUrl: string | null;
  dbPoolSize: number;
  /** One server (`redis://`) or a Redis Cluster (`redis+cluster://`): see parseRedisUrl. */
  redisUrl: string | null;
  redisPrefix: string;
  smtpUrl: string | null;
  mailFrom: string;
  dataDir: string;
  uploadDir: string;
  /** An upload that no message, avatar or chat shows this many hours after it was made is deleted. */
  uploadUnusedHours: number;
  /** The most bytes one user's uploads kept in any 24 hours (what was deleted again does not count). */
  uploadDailyBytes: number;
  trustProxy: number;
  corsOrigins: string[];
  workers: boolean;
  /** Sign-in code requests and guesses per (client IP, email). */
  rateLimitAuth: RateLimit;
  /** Sign-in code requests and guesses per client IP (an IPv6 /64 counts as one). */
  rateLimitAuthIp: RateLimit;
  rateLimitApi: RateLimit;
  /** Token-bucket budgets of socket frames per user: a burst of `limit`, refilled evenly over `windowSeconds`. */
  wsRateSend: RateLimit;
  wsRateTyping: RateLimit;
  wsRatePresence: RateLimit;
  /** Authenticated sockets a user may open (per instance): a burst, refilled over the seconds. */
  wsRateConnect: RateLimit;
  wsRateEvents: RateLimit;
  wsMaxSocketsPerUser: number;
  wsMaxSocketsPerIp: number;
  http: HttpTimeouts;
  /** Codes mailed to one email, from any IP. */
  otpSendLimit: RateLimit;
  /** Wrong codes for one email, from any IP, before sign-in locks until the window ends. */
  otpWrongCodeLimit: RateLimit;
  /** PreKey bundle fetches by one user, across all targets. */
  bundleFetchLimit: RateLimit;
  /** One-time prekeys of one user handed out, to anyone; beyond it bundles come without one. */
  preKeyHandOutLimit: RateLimit;
  /** Link previews asked for by one user, and separately images fetched through the preview proxy. */
  linkPreviewLimit: RateLimit;
  /** Abuse reports filed by one user (POST /api/reports). */
  reportLimit: RateLimit;
  /** Profile saves that change something, per user: each reaches everyone who shares a chat with them. */
  profileChangesLimit: RateLimit;
  /** Groups created by one user: each reaches up to 199 others' chat lists. */
  groupCreateLimit: RateLimit;
  /** Group changes by one user (name, description, avatar, members added or removed, roles): each reaches every member. */
  groupChangesLimit: RateLimit;
  /** Reactions added and removed by one user, together: each reaches the chat's members. */
  reactionLimit: RateLimit;
  /** Unauthenticated public profile lookups (GET /api/users/public/:nickname) per client IP. */
  publicProfileLimit: RateLimit;
  /** Data exports (GET /api/chats/export/all and per chat, together) per user. */
  exportLimit: RateLimit;
  /** Message searches (in a chat and across chats, together) per user. */
  searchLimit: RateLimit;
  /** The most contacts one user keeps (GET /api/contacts answers them all; each is a presence follow). */
  contactsMax: number;
  /** The most users one user keeps blocked (GET /api/users/me/blocked answers them all). */
  blocksMax: number;
  appSecret: string;
  logLevel: string;
  /** LOG_REQUEST_CONTEXT: every line logged while a request is handled names it (RequestLogging). */
  logRequestContext: boolean;
  /** How often every socket's session is checked against the database, in seconds. */
  sessionRecheckSeconds: number;
  /** Each user's event log keeps about this many recent events (resume and GET /api/events)... */
  eventLogMaxEvents: number;
  /** ...none older than this; a log without new events for this long is dropped. */
  eventLogMaxAgeSeconds: number;
  /** Serve the Swagger UI at /api/docs and the OpenAPI document at /api/docs-json. */
  apiDocs: boolean;
  /** Bearer token of `GET /metrics` on the API port; null: not served there. */
  metricsToken: string | null;
  /** A port of its own for `GET /metrics` (no token); null: none. */
  metricsPort: number | null;
  metricsHost: string;
  /**
   * Canonical `host:port` pairs that outbound requests to user-chosen URLs (link previews, Web
   * Push endpoints) may reach although private or not on the scheme's default port.
   */
  outboundAllowHosts: string[];
  /** Web Push (VAPID) keys; null when push is off (the vapid-key route answers null, nothing is sent). */
  push: VapidConfig | null;
}

/** The application server's VAPID identity: the P-256 key pair (base64url, as web-push tools print them) and a contact. */
export interface VapidConfig {
  publicKey: string;
  privateKey: string;
  /** `mailto:` or `https:` contact the push services may reach about this sender. */
  subject: string;
}

export interface RateLimit {
  limit: number;
  windowSeconds: number;
}

/** How long a client may take to send a request (see README: slow clients). */
export interface HttpTimeouts {
  headersTimeoutMs: number;
  /** How long an idle keep-alive connection stays open: above the balancer's own idle timeout. */
  keepAliveTimeoutMs: number;
  requestTimeoutMs: number;
  bodyTimeoutMs: number;
  bodyMinBytesPerSecond: number;
}

export type Env = Record<string, string | undefined>;

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Secrets that were published as examples (the old docker-compose default among them) or read
 * like one: anyone can forge with them, so production refuses to start with such a value.
 */
const PUBLISHED_SECRETS = new Set(['change-me-to-a-long-random-secret-of-32+chars']);
const PLACEHOLDER_SECRET = /change[\W_]*me|replace[\W_]*me|placeholder|your[\W_]*secret|^(.)\1*$/i;

/** Variables whose value is, or may carry, a credential (a URL's password): a refusal names them, never their value (it goes to the deploy's logs). */
const SECRET_BEARING = new Set(['APP_SECRET', 'METRICS_TOKEN', 'DATABASE_URL', 'REDIS_URL', 'SMTP_URL']);

/** A parse's answer for a value it refuses for a reason more precise than "is not <expected>": `reason` follows the variable's name. */
class Refusal {
  constructor(readonly reason: string) {}
}

/** The largest count of a `count/seconds` limit: counts meet int4 columns in SQL. */
const MAX_RATE_COUNT = 2 ** 31 - 1;
/** The longest window of a `count/seconds` limit, 10 years: windows become SQL intervals added to timestamps, which have ends. */
const MAX_RATE_WINDOW_SECONDS = 10 * 365 * 86_400;

/**
 * Parses and validates the environment. Every malformed variable is reported at once, each by
 * name, so a deploy fails with one clear message instead of a series of restarts.
 */
export function parseEnv(env: Env): AppConfigValues {
  const problems: string[] = [];
  const read = <T>(name: string, fallback: T, parse: (raw: string) => T | Refusal | undefined, expected: string): T => {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') return fallback;
    const value = parse(raw);
    if (value === undefined || value instanceof Refusal) {
      const named = SECRET_BEARING.has(name) ? `${name} (its value is not shown: it may hold a secret)` : `${name}=${JSON.stringify(raw)}`;
      problems.push(`${named} ${value instanceof Refusal ? value.reason : `is not ${expected}`}`);
      return fallback;
    }
    return value;
  };

  const nodeEnv = read('NODE_ENV', 'development' as AppConfigValues['nodeEnv'], oneOf(['development', 'production', 'test'] as const), 'one of development, production, test');
  const dataDir = resolve(read('DATA_DIR', './data', (v) => v, 'a path'));
  const smtpUrl = read('SMTP_URL', null, urlWith(['smtp:', 'smtps:']), 'an smtp:// or smtps:// URL');
  const config: AppConfigValues = {
    nodeEnv,
    port: read('PORT', 3000, intIn(0, 65535), 'a port number (0-65535)'),
    databaseUrl: read('DATABASE_URL', null, withCredentials(urlWith(['postgres:', 'postgresql:'])), 'a postgres:// URL'),
    dbPoolSize: read('DB_POOL_SIZE', 10, intIn(1, 200), 'an integer from 1 to 200'),
    redisUrl: read('REDIS_URL', null, withCredentials(redisUrl), 'a redis:// URL or a redis+cluster://host:port,host:port URL'),
    redisPrefix: read('REDIS_PREFIX', 'h2v', (v) => (/^[\w.-]{1,64}$/.test(v) ? v : undefined), 'a short key prefix ([A-Za-z0-9_.-])'),
    smtpUrl,
    mailFrom: read('MAIL_FROM', 'H2V <no-reply@localhost>', (v) => (v.includes('@') ? v : undefined), 'a mail address'),
    dataDir,
    uploadDir: resolve(read('UPLOAD_DIR', join(dataDir, 'uploads'), (v) => v, 'a path')),
    uploadUnusedHours: read('UPLOAD_UNUSED_HOURS', 24, intIn(1, 720), 'hours from 1 to 720'),
    uploadDailyBytes: read('UPLOAD_DAILY_MB', 4096, intIn(1, 10_000_000), 'megabytes from 1 to 10000000') * 1024 * 1024,
    trustProxy: read('TRUST_PROXY', 0, trustProxy, 'off, on, or a number of proxy hops'),
    corsOrigins: read('CORS_ORIGINS', [] as string[], origins, 'a comma-separated list of http(s) origins'),
    workers: read('WORKERS', true, onOff, 'on or off'),
    rateLimitAuth: read('RATE_LIMIT_AUTH', { limit: 20, windowSeconds: 900 }, rateLimit, 'requests/seconds, e.g. 20/900'),
    rateLimitAuthIp: read('RATE_LIMIT_AUTH_IP', { limit: 100, windowSeconds: 900 }, rateLimit, 'requests/seconds, e.g. 100/900'),
    rateLimitApi: read('RATE_LIMIT_API', { limit: 300, windowSeconds: 60 }, rateLimit, 'requests/seconds, e.g. 300/60'),
    wsRateSend: read('WS_RATE_SEND', { limit: 30, windowSeconds: 3 }, rateLimit, 'burst/seconds to refill it, e.g. 30/3'),
    wsRateTyping: read('WS_RATE_TYPING', { limit: 20, windowSeconds: 5 }, rateLimit, 'burst/seconds to refill it, e.g. 20/5'),
    wsRatePresence: read('WS_RATE_PRESENCE', { limit: 30, windowSeconds: 60 }, rateLimit, 'burst/seconds to refill it, e.g. 30/60'),
    wsRateConnect: read('WS_RATE_CONNECT', { limit: 30, windowSeconds: 60 }, rateLimit, 'burst/seconds to refill it, e.g. 30/60'),
    wsRateEvents: read('WS_RATE_EVENTS', { limit: 120, windowSeconds: 4 }, rateLimit, 'burst/seconds to refill it, e.g. 120/4'),
    wsMaxSocketsPerUser: read('WS_MAX_SOCKETS_PER_USER', 20, intIn(1, 1_000_000), 'an integer from 1 to 1000000'),
    wsMaxSocketsPerIp: read('WS_MAX_SOCKETS_PER_IP', 200, intIn(1, 1_000_000), 'an integer from 1 to 1000000'),
    http: {
      headersTimeoutMs: read('HTTP_HEADERS_TIMEOUT_MS', 10_000, intIn(100, 3_600_000), 'milliseconds from 100 to 3600000'),
      keepAliveTimeoutMs: read('HTTP_KEEPALIVE_TIMEOUT_MS', 65_000, intIn(100, 3_600_000), 'milliseconds from 100 to 3600000'),
      requestTimeoutMs: read('HTTP_REQUEST_TIMEOUT_MS', 600_000, intIn(100, 86_400_000), 'milliseconds from 100 to 86400000'),
      bodyTimeoutMs: read('HTTP_BODY_TIMEOUT_MS', 10_000, intIn(100, 3_600_000), 'milliseconds from 100 to 3600000'),
      bodyMinBytesPerSecond: read('HTTP_BODY_MIN_RATE', 4096, intIn(1, 1_000_000_000), 'bytes per second (a positive integer)'),
    },
    otpSendLimit: read('OTP_SEND_LIMIT', { limit: 5, windowSeconds: 3600 }, rateLimit, 'codes/seconds, e.g. 5/3600'),
    otpWrongCodeLimit: read('OTP_WRONG_CODE_LIMIT', { limit: 20, windowSeconds: 86400 }, rateLimit, 'wrong codes/seconds, e.g. 20/86400'),
    bundleFetchLimit: read('RATE_LIMIT_BUNDLE_FETCH', { limit: 60, windowSeconds: 3600 }, rateLimit, 'fetches/seconds, e.g. 60/3600'),
    preKeyHandOutLimit: read('RATE_LIMIT_PREKEY_HAND_OUT', { limit: 20, windowSeconds: 3600 }, rateLimit, 'prekeys/seconds, e.g. 20/3600'),
    linkPreviewLimit: read('RATE_LIMIT_LINK_PREVIEW', { limit: 60, windowSeconds: 60 }, rateLimit, 'requests/seconds, e.g. 60/60'),
    reportLimit: read('RATE_LIMIT_REPORTS', { limit: 20, windowSeconds: 3600 }, rateLimit, 'reports/seconds, e.g. 20/3600'),
    profileChangesLimit: read('RATE_LIMIT_PROFILE_CHANGES', { limit: 30, windowSeconds: 60 }, rateLimit, 'saves/seconds, e.g. 30/60'),
    groupCreateLimit: read('RATE_LIMIT_GROUP_CREATE', { limit: 20, windowSeconds: 3600 }, rateLimit, 'groups/seconds, e.g. 20/3600'),
    groupChangesLimit: read('RATE_LIMIT_GROUP_CHANGES', { limit: 60, windowSeconds: 60 }, rateLimit, 'changes/seconds, e.g. 60/60'),
    reactionLimit: read('RATE_LIMIT_REACTIONS', { limit: 120, windowSeconds: 60 }, rateLimit, 'reactions/seconds, e.g. 120/60'),
    publicProfileLimit: read('RATE_LIMIT_PUBLIC_PROFILE', { limit: 30, windowSeconds: 60 }, rateLimit, 'lookups/seconds, e.g. 30/60'),
    exportLimit: read('RATE_LIMIT_EXPORT', { limit: 3, windowSeconds: 3600 }, rateLimit, 'exports/seconds, e.g. 3/3600'),
    searchLimit: read('RATE_LIMIT_SEARCH', { limit: 60, windowSeconds: 60 }, rateLimit, 'searches/seconds, e.g. 60/60'),
    // The lists are answered whole (the contract has no pages): at 100,000 one answer took seconds of the event loop.
    contactsMax: read('CONTACTS_MAX', 5000, intIn(1, 100_000), 'an integer from 1 to 100000'),
    blocksMax: read('BLOCKS_MAX', 5000, intIn(1, 100_000), 'an integer from 1 to 100000'),
    appSecret: read('APP_SECRET', '', (v) => (v.length >= MIN_SECRET_LENGTH ? v : undefined), `a secret of at least ${MIN_SECRET_LENGTH} characters`),
    logLevel: read('LOG_LEVEL', nodeEnv === 'production' ? 'info' : 'debug', oneOf(LOG_LEVELS), `one of ${LOG_LEVELS.join(', ')}`),
    // Off in production: on Node 20 the context costs every promise of the process a hook (RequestLogging).
    logRequestContext: read('LOG_REQUEST_CONTEXT', nodeEnv !== 'production', onOff, 'on or off'),
    sessionRecheckSeconds: read('SESSION_RECHECK_SECONDS', 30, intIn(1, 3600), 'an integer from 1 to 3600'),
    eventLogMaxEvents: read('EVENT_LOG_MAX_EVENTS', 2000, intIn(10, 1_000_000), 'an integer from 10 to 1000000'),
    eventLogMaxAgeSeconds: read('EVENT_LOG_MAX_AGE_SECONDS', 86_400, intIn(60, 30 * 86_400), 'seconds from 60 to 2592000 (30 days)'),
    apiDocs: read('API_DOCS', true, onOff, 'on or off'),
    metricsToken: read('METRICS_TOKEN', null, (v) => (v.length >= 16 && /^[\x21-\x7e]+$/.test(v) ? v : undefined), 'a token of at least 16 printable characters'),
    metricsPort: read('METRICS_PORT', null, intIn(0, 65535), 'a port number (0-65535)'),
    metricsHost: read('METRICS_HOST', '127.0.0.1', (v) => (/^[\w.:-]{1,255}$/.test(v) ? v : undefined), 'a host name or address to bind'),
    push: null,
    outboundAllowHosts: read('OUTBOUND_ALLOW_HOSTS', [] as string[], hostPorts, 'a comma-separated list of host:port pairs (IPv6 in brackets), e.g. 10.0.0.5:8443,[::1]:4000'),
  };
  const vapid = readVapid(env, config.mailFrom, nodeEnv === 'production', problems);

  if (!config.workers && !(config.redisUrl && config.databaseUrl)) {
    // The background work (mail, the upload sweep, account self-destruct, record cleanup) then
    // runs in a separate worker, which needs both: the queue is in Redis, and an embedded database is one process's own.
    problems.push("WORKERS=off needs REDIS_URL and DATABASE_URL: the background work then runs in a separate worker (npm run start:worker), which needs both (an embedded database is one process's own)");
  }
  if (config.http.headersTimeoutMs > config.http.requestTimeoutMs) {
    problems.push('HTTP_HEADERS_TIMEOUT_MS must not exceed HTTP_REQUEST_TIMEOUT_MS (the headers are part of the request)');
  }
  // Blank (spaces only) reads as unset; a value too short has its own problem already.
  const noSecret = !config.appSecret && !env.APP_SECRET?.trim();
  if (nodeEnv === 'production') {
    if (!smtpUrl) problems.push('SMTP_URL is required when NODE_ENV=production (development mail to the log is refused)');
    if (noSecret) problems.push('APP_SECRET is required when NODE_ENV=production');
    if (isPlaceholderSecret(config.appSecret)) {
      problems.push('APP_SECRET is a published placeholder; set a random secret when NODE_ENV=production (e.g. `openssl rand -base64 48`)');
    }
  } else if (noSecret && (config.databaseUrl || config.redisUrl)) {
    // A generated secret is one DATA_DIR's: a code mailed by one instance would be refused by another, and a worker could not open the mail jobs.
    problems.push('APP_SECRET is required with DATABASE_URL or REDIS_URL: every instance and worker of the deployment must share one secret (e.g. `openssl rand -base64 48`)');
  }
  if (problems.length) throw new ConfigError(problems);
  if (!config.appSecret) config.appSecret = keptIn('DATA_DIR', dataDir, 'the development secret', developmentSecret);
  // Generated keys suit one process only: instances of a cluster must share one pair, so there
  // push stays off until VAPID_* are set.
  config.push = vapid ?? (config.databaseUrl === null ? { ...keptIn('DATA_DIR', dataDir, 'the Web Push keys', embeddedVapidKeys), subject: vapidSubject(env, config.mailFrom) } : null);
  return config;
}

/**
 * Hosts where no push service can reach the operator: Apple's refuses a VAPID subject naming one
 * (403 BadJwtToken), so not one push would reach Safari or iOS.
 */
const UNREACHABLE_SUBJECT_HOST = /(^|\.)(localhost|local|test|invalid|example)\.?$/i;

/**
 * VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY: both or neither; base64url of the 65-byte uncompressed
 * P-256 public key and of the 32-byte private key (`npx web-push generate-vapid-keys`), and of
 * one pair; in production, with a subject push services accept. Null when neither is set.
 */
function readVapid(env: Env, mailFrom: string, production: boolean, problems: string[]): VapidConfig | null {
  const publicKey = env.VAPID_PUBLIC_KEY?.trim() ?? '';
  const privateKey = env.VAPID_PRIVATE_KEY?.trim() ?? '';
  const subject = vapidSubject(env, mailFrom);
  if (!/^(mailto:.+@.+|https:\/\/[^\s/]+.*)$/.test(subject)) problems.push(`VAPID_SUBJECT=${JSON.stringify(subject)} is not a mailto: address or an https: URL`);
  if (!publicKey && !privateKey) return null;
  if (!publicKey || !privateKey) {
    problems.push('VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY go together: set both (npx web-push generate-vapid-keys) or neither');
    return null;
  }
  const pub = base64url(publicKey);
  const priv = base64url(privateKey);
  if (!pub || pub.length !== 65 || pub[0] !== 4) problems.push('VAPID_PUBLIC_KEY is not a base64url 65-byte uncompressed P-256 public key');
  if (!priv || priv.length !== 32) problems.push('VAPID_PRIVATE_KEY is not a base64url 32-byte P-256 private key');
  else if (pub && !publicKeyOf(priv)?.equals(pub)) problems.push('VAPID_PUBLIC_KEY is not the public key of VAPID_PRIVATE_KEY');
  const host = subjectHost(subject);
  if (production && host && UNREACHABLE_SUBJECT_HOST.test(host)) {
    const refused = `Apple's push service refuses (403 BadJwtToken: no push would reach Safari or iOS)`;
    problems.push(
      env.VAPID_SUBJECT?.trim()
        ? `VAPID_SUBJECT=${JSON.stringify(subject)} names ${host}, which ${refused}; set a mailto: address or https: URL of a real domain when NODE_ENV=production`
        : `VAPID_SUBJECT is unset and defaults to ${subject} (MAIL_FROM's address), whose host ${host} ${refused}; set VAPID_SUBJECT (or MAIL_FROM) to an address of a real domain when NODE_ENV=production`,
    );
  }
  return { publicKey: publicKey.replace(/=+$/, ''), privateKey: privateKey.replace(/=+$/, ''), subject };
}

/** VAPID_SUBJECT, else a mailto: of MAIL_FROM's address. */
function vapidSubject(env: Env, mailFrom: string): string {
  const set = env.VAPID_SUBJECT?.trim();
  if (set) return set;
  const address = /<([^>]+)>/.exec(mailFrom)?.[1] ?? mailFrom;
  return `mailto:${address.trim()}`;
}

/** The host a VAPID subject names: a mailto: address's domain or an https: URL's host. */
function subjectHost(subject: string): string | undefined {
  if (subject.startsWith('mailto:')) return /@([^@?]+)(\?.*)?$/.exec(subject)?.[1];
  try {
    return new URL(subject).hostname;
  } catch {
    return undefined;
  }
}

function base64url(value: string): Buffer | null {
  return /^[A-Za-z0-9_-]+=*$/.test(value) ? Buffer.from(value, 'base64url') : null;
}

function publicKeyOf(privateKey: Buffer): Buffer | null {
  try {
    const ecdh = createECDH('prime256v1');
    ecdh.setPrivateKey(privateKey);
    return ecdh.getPublicKey();
  } catch {
    return null;
  }
}

/**
 * The directories a serving process (the API, a worker) writes, made if missing (private, see
 * privateDir): UPLOAD_DIR always (uploads are received and kept there), DATA_DIR when something
 * is kept there (the embedded database, development mail without SMTP_URL; a deployment with
 * DATABASE_URL, SMTP_URL and APP_SECRET writes nothing there), and the embedded database's own
 * directory. One this process cannot create or write is a configuration problem, named as one.
 * Not part of parseEnv: the migration command needs none but the database's (dataSourceOptions).
 */
export function requireWritableDirs(config: AppConfigValues): void {
  if (config.databaseUrl === null) {
    keptIn('DATA_DIR', config.dataDir, 'the embedded database', (dir) => {
      writableDir(dir); // db.lock is kept beside the database
      writableDir(embeddedDatabaseDir(dir));
    });
  } else if (!config.smtpUrl) {
    keptIn('DATA_DIR', config.dataDir, 'development mail', writableDir);
  }
  keptIn('UPLOAD_DIR', config.uploadDir, 'uploads', writableDir);
}

function writableDir(dir: string): void {
  privateDir(dir);
  accessSync(dir, constants.W_OK);
}

/**
 * DATA_DIR/db, the embedded database, made if missing and always private to this process's user
 * (0700): PGlite writes many of its files 0666 whatever the umask, WAL and catalogs holding sign-in codes and
 * addresses, so the directory's mode is all that keeps other local users from reading and writing
 * them. One an earlier release (or a copy) left open is closed at start; one this process cannot
 * close (another user's) is refused, since a database other users can reach is the fault itself.
 */
export function embeddedDatabaseDir(dataDir: string): string {
  privateDir(dataDir);
  const dir = join(dataDir, 'db');
  if (privateDir(dir)) return dir;
  const mode = statSync(dir).mode & 0o777;
  if (mode & 0o077) {
    try {
      chmodSync(dir, 0o700);
    } catch (error) {
      const { code, message } = error as NodeJS.ErrnoException;
      throw new ConfigError([
        `the embedded database's directory ${JSON.stringify(dir)} is open to other users (mode ${mode.toString(8)}) and this process cannot close it (${code ?? message}): run \`chmod 700 '${dir}'\` as its owner`,
      ]);
    }
  }
  return dir;
}

/**
 * Makes `dir` 0700 if missing (true then): what the server keeps in a directory it makes is no
 * other local user's to list or read. Missing parents get the default mode (what else they hold
 * is not the server's), and an existing directory keeps the mode its operator gave it.
 */
function privateDir(dir: string): boolean {
  try {
    try {
      mkdirSync(dir, { mode: 0o700 });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      mkdirSync(dirname(dir), { recursive: true });
      mkdirSync(dir, { mode: 0o700 });
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST' && statSync(dir).isDirectory()) return false;
    throw error;
  }
}

/** Reads or makes `what` in the directory `name` names; a directory that cannot hold it is a configuration problem, named as one. */
function keptIn<T>(name: string, dir: string, what: string, work: (dir: string) => T): T {
  try {
    return work(dir);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    const { code, message } = error as NodeJS.ErrnoException;
    throw new ConfigError([`${name}=${JSON.stringify(dir)} cannot hold ${what} (${code ?? message}): it must be a directory this process can create and write`]);
  }
}

/** The embedded mode's VAPID pair, made once and kept in DATA_DIR (like the development secret), so subscriptions survive restarts. */
function embeddedVapidKeys(dataDir: string): { publicKey: string; privateKey: string } {
  const stored = keptFile(dataDir, '.vapid-keys.json', readVapidKeys, () => {
    const ecdh = createECDH('prime256v1');
    ecdh.generateKeys();
    // OpenSSL drops leading zero bytes of the private key; VAPID tools expect all 32.
    const privateKey = Buffer.concat([Buffer.alloc(32), ecdh.getPrivateKey()]).subarray(-32);
    return JSON.stringify({ publicKey: ecdh.getPublicKey().toString('base64url'), privateKey: privateKey.toString('base64url') });
  });
  return readVapidKeys(stored)!;
}

/** A kept VAPID pair, or null when the file holds none (empty, cut short, not JSON). */
function readVapidKeys(text: string): { publicKey: string; privateKey: string } | null {
  try {
    const { publicKey, privateKey } = JSON.parse(text) as { publicKey?: unknown; privateKey?: unknown };
    if (typeof publicKey === 'string' && publicKey.length === 87 && typeof privateKey === 'string' && privateKey.length === 43) return { publicKey, privateKey };
  } catch {
    // Not JSON: made again below.
  }
  return null;
}

/**
 * What the embedded mode keeps in DATA_DIR/`name` (its callers run under keptIn, which names
 * the directory in a refusal): the file's content when `valid` takes it, else `make()`'s, written whole before it can be read (a temp file linked into place: a start that
 * failed half-way, a full disk, leaves no empty or partial file to be taken for it) and by the
 * first of two processes starting at once (the link fails if the file exists; the other's is read).
 * An invalid file (left by an earlier release's interrupted write) is replaced.
 */
function keptFile(dataDir: string, name: string, valid: (text: string) => unknown, make: () => string): string {
  const file = join(dataDir, name);
  const read = (): string | null => {
    try {
      const text = readFileSync(file, 'utf8').trim();
      return valid(text) ? text : null;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  };
  const kept = read();
  if (kept !== null) return kept;
  privateDir(dataDir);
  const made = make();
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(temp, made, { mode: 0o600 });
  try {
    if (placed(temp, file, made)) return made;
    // Another process made it meanwhile, or an invalid one is in the way.
    const theirs = read();
    if (theirs !== null) return theirs;
    unlinkSync(file);
    if (placed(temp, file, made)) return made;
    return read() ?? made;
  } finally {
    unlinkSync(temp);
  }
}

/**
 * Puts the whole `temp` file at `file` unless one is there (false then). A file system without
 * hard links (some network and FUSE mounts) gets an exclusive create instead: not whole on a crash
 * mid-write, which the next start's check of the content catches.
 */
function placed(temp: string, file: string, content: string): boolean {
  try {
    linkSync(temp, file);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw error;
  }
  try {
    writeFileSync(file, content, { flag: 'wx', mode: 0o600 });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

function isPlaceholderSecret(secret: string): boolean {
  return PUBLISHED_SECRETS.has(secret) || PLACEHOLDER_SECRET.test(secret);
}

/** The shortest APP_SECRET taken, from the environment or kept in DATA_DIR. */
const MIN_SECRET_LENGTH = 32;

/**
 * In the embedded mode outside production a secret is made once and kept in DATA_DIR, so OTP
 * hashes survive restarts. Never with DATABASE_URL or REDIS_URL: processes sharing those must share the secret.
 */
function developmentSecret(dataDir: string): string {
  return keptFile(dataDir, '.app-secret', (text) => text.length >= MIN_SECRET_LENGTH, () => randomBytes(32).toString('base64url'));
}

function oneOf<T extends string>(values: readonly T[]) {
  return (raw: string): T | undefined => (values.includes(raw as T) ? (raw as T) : undefined);
}

function intIn(min: number, max: number) {
  return (raw: string): number | undefined => {
    if (!/^\d+$/.test(raw)) return undefined;
    const n = Number(raw);
    return n >= min && n <= max ? n : undefined;
  };
}

function urlWith(protocols: string[]) {
  return (raw: string): string | undefined => {
    try {
      return protocols.includes(new URL(raw).protocol) ? raw : undefined;
    } catch {
      return undefined;
    }
  };
}

/**
 * `parse` of a URL whose user and password must %-decode: TypeORM and ioredis decode them on
 * connecting, where a malformed escape (a bare `%`) ended start-up with an unnamed URIError,
 * TypeORM's only after nine retries. (Nodemailer takes such a user or password as written, so
 * SMTP_URL keeps what works.)
 */
function withCredentials(parse: (raw: string) => string | Refusal | undefined) {
  return (raw: string): string | Refusal | undefined =>
    credentialsDecode(raw) ? parse(raw) : new Refusal('has a malformed %-escape in its user or password (write % as %25)');
}

/** REDIS_URL: what parseRedisUrl takes, refusing a query or a path that is not a database number with its own reason. */
function redisUrl(raw: string): string | Refusal | undefined {
  const problem = redisUrlProblem(raw);
  if (problem) return new Refusal(problem);
  return parseRedisUrl(raw) ? raw : undefined;
}

/** Whether the user and password of the URL `raw` (a cluster's list of hosts too) %-decode; true when it names none. */
function credentialsDecode(raw: string): boolean {
  const userinfo = /^[a-z][\w+.-]*:\/\/([^/?#]*)@/i.exec(raw)?.[1] ?? '';
  try {
    decodeURIComponent(userinfo);
    return true;
  } catch {
    return false;
  }
}

function onOff(raw: string): boolean | undefined {
  const v = raw.toLowerCase();
  if (['on', 'true', '1', 'yes'].includes(v)) return true;
  if (['off', 'false', '0', 'no'].includes(v)) return false;
  return undefined;
}

function trustProxy(raw: string): number | undefined {
  const flag = onOff(raw);
  if (flag !== undefined) return flag ? 1 : 0;
  return intIn(0, 10)(raw);
}

function origins(raw: string): string[] | undefined {
  const list = raw.split(',').map((o) => o.trim()).filter(Boolean);
  return list.every((o) => urlWith(['http:', 'https:'])(o) && new URL(o).origin === o) ? list : undefined;
}

function hostPorts(raw: string): string[] | undefined {
  const keys = raw.split(',').map((entry) => entry.trim()).filter(Boolean).map(parseHostPort);
  return keys.every((key): key is string => key !== null) ? keys : undefined;
}

/**
 * `count/seconds`, both positive and bounded: beyond an int4 count or a window past year 10000,
 * every request the limit guards would fail in SQL (a 500 on each send-otp) instead of start-up.
 */
function rateLimit(raw: string): RateLimit | Refusal | undefined {
  const match = /^(\d+)\/(\d+)$/.exec(raw);
  if (!match) return undefined;
  const [limit, windowSeconds] = [Number(match[1]), Number(match[2])];
  if (limit <= 0 || windowSeconds <= 0) return undefined;
  if (limit > MAX_RATE_COUNT || windowSeconds > MAX_RATE_WINDOW_SECONDS) {
    return new Refusal(`is out of range: the count goes from 1 to ${MAX_RATE_COUNT}, the seconds from 1 to ${MAX_RATE_WINDOW_SECONDS} (10 years)`);
  }
  return { limit, windowSeconds };
}
