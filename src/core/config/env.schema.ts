import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** The validated configuration: every variable of the design's configuration table, typed. */
export interface AppConfigValues {
  nodeEnv: 'development' | 'production' | 'test';
  port: number;
  databaseUrl: string | null;
  dbPoolSize: number;
  redisUrl: string | null;
  redisPrefix: string;
  smtpUrl: string | null;
  mailFrom: string;
  dataDir: string;
  uploadDir: string;
  trustProxy: number;
  corsOrigins: string[];
  workers: boolean;
  /** Sign-in code requests and guesses per (client IP, email). */
  rateLimitAuth: RateLimit;
  /** Sign-in code requests and guesses per client IP (an IPv6 /64 counts as one). */
  rateLimitAuthIp: RateLimit;
  rateLimitApi: RateLimit;
  /** Codes mailed to one email, from any IP. */
  otpSendLimit: RateLimit;
  /** Wrong codes for one email, from any IP, before sign-in locks until the window ends. */
  otpWrongCodeLimit: RateLimit;
  /** PreKey bundle fetches by one user, across all targets. */
  bundleFetchLimit: RateLimit;
  /** One-time prekeys of one user handed out, to anyone; beyond it bundles come without one. */
  preKeyHandOutLimit: RateLimit;
  appSecret: string;
  logLevel: string;
}

export interface RateLimit {
  limit: number;
  windowSeconds: number;
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
 * Parses and validates the environment. Every malformed variable is reported at once, each by
 * name, so a deploy fails with one clear message instead of a series of restarts.
 */
export function parseEnv(env: Env): AppConfigValues {
  const problems: string[] = [];
  const read = <T>(name: string, fallback: T, parse: (raw: string) => T | undefined, expected: string): T => {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') return fallback;
    const value = parse(raw);
    if (value === undefined) {
      problems.push(`${name}=${JSON.stringify(raw)} is not ${expected}`);
      return fallback;
    }
    return value;
  };

  const nodeEnv = read('NODE_ENV', 'development' as AppConfigValues['nodeEnv'], oneOf(['development', 'production', 'test']), 'one of development, production, test');
  const dataDir = resolve(read('DATA_DIR', './data', (v) => v, 'a path'));
  const smtpUrl = read('SMTP_URL', null, urlWith(['smtp:', 'smtps:']), 'an smtp:// or smtps:// URL');
  const config: AppConfigValues = {
    nodeEnv,
    port: read('PORT', 3000, intIn(0, 65535), 'a port number (0-65535)'),
    databaseUrl: read('DATABASE_URL', null, urlWith(['postgres:', 'postgresql:']), 'a postgres:// URL'),
    dbPoolSize: read('DB_POOL_SIZE', 10, intIn(1, 200), 'an integer from 1 to 200'),
    redisUrl: read('REDIS_URL', null, urlWith(['redis:', 'rediss:']), 'a redis:// URL'),
    redisPrefix: read('REDIS_PREFIX', 'h2v', (v) => (/^[\w.-]{1,64}$/.test(v) ? v : undefined), 'a short key prefix ([A-Za-z0-9_.-])'),
    smtpUrl,
    mailFrom: read('MAIL_FROM', 'H2V <no-reply@localhost>', (v) => (v.includes('@') ? v : undefined), 'a mail address'),
    dataDir,
    uploadDir: resolve(read('UPLOAD_DIR', join(dataDir, 'uploads'), (v) => v, 'a path')),
    trustProxy: read('TRUST_PROXY', 0, trustProxy, 'off, on, or a number of proxy hops'),
    corsOrigins: read('CORS_ORIGINS', [] as string[], origins, 'a comma-separated list of http(s) origins'),
    workers: read('WORKERS', true, onOff, 'on or off'),
    rateLimitAuth: read('RATE_LIMIT_AUTH', { limit: 20, windowSeconds: 900 }, rateLimit, 'requests/seconds, e.g. 20/900'),
    rateLimitAuthIp: read('RATE_LIMIT_AUTH_IP', { limit: 100, windowSeconds: 900 }, rateLimit, 'requests/seconds, e.g. 100/900'),
    rateLimitApi: read('RATE_LIMIT_API', { limit: 300, windowSeconds: 60 }, rateLimit, 'requests/seconds, e.g. 300/60'),
    otpSendLimit: read('OTP_SEND_LIMIT', { limit: 5, windowSeconds: 3600 }, rateLimit, 'codes/seconds, e.g. 5/3600'),
    otpWrongCodeLimit: read('OTP_WRONG_CODE_LIMIT', { limit: 20, windowSeconds: 86400 }, rateLimit, 'wrong codes/seconds, e.g. 20/86400'),
    bundleFetchLimit: read('RATE_LIMIT_BUNDLE_FETCH', { limit: 60, windowSeconds: 3600 }, rateLimit, 'fetches/seconds, e.g. 60/3600'),
    preKeyHandOutLimit: read('RATE_LIMIT_PREKEY_HAND_OUT', { limit: 20, windowSeconds: 3600 }, rateLimit, 'prekeys/seconds, e.g. 20/3600'),
    appSecret: read('APP_SECRET', '', (v) => (v.length >= 32 ? v : undefined), 'a secret of at least 32 characters'),
    logLevel: read('LOG_LEVEL', nodeEnv === 'production' ? 'info' : 'debug', oneOf(LOG_LEVELS), `one of ${LOG_LEVELS.join(', ')}`),
  };

  if (nodeEnv === 'production') {
    if (!smtpUrl) problems.push('SMTP_URL is required when NODE_ENV=production (development mail to the log is refused)');
    if (!config.appSecret && !env.APP_SECRET) problems.push('APP_SECRET is required when NODE_ENV=production');
  }
  if (problems.length) throw new ConfigError(problems);
  if (!config.appSecret) config.appSecret = developmentSecret(dataDir);
  return config;
}

/** Outside production a secret is made once and kept in DATA_DIR, so OTP hashes survive restarts. */
function developmentSecret(dataDir: string): string {
  const file = join(dataDir, '.app-secret');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(file, secret, { mode: 0o600 });
  return secret;
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

function rateLimit(raw: string): RateLimit | undefined {
  const match = /^(\d+)\/(\d+)$/.exec(raw);
  if (!match) return undefined;
  const [limit, windowSeconds] = [Number(match[1]), Number(match[2])];
  return limit > 0 && windowSeconds > 0 ? { limit, windowSeconds } : undefined;
}
