import { ConfigError, parseEnv, requireWritableDirs } from './env.schema';
import { createECDH } from 'node:crypto';
import fs, { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dataDir = () => mkdtempSync(join(tmpdir(), 'h2v-config-'));
/** What a deployment with DATABASE_URL or REDIS_URL must set (its processes share it). */
const APP_SECRET = 'Qm9vdHN0cmFwcGVkLXJhbmRvbS1zZWNyZXQtMjAyNg';

describe('parseEnv', () => {
  it('applies the documented defaults when nothing is set', () => {
    const config = parseEnv({ DATA_DIR: dataDir() });
    expect(config).toMatchObject({
      port: 3000,
      databaseUrl: null,
      redisUrl: null,
      smtpUrl: null,
      workers: true,
      trustProxy: 0,
      rateLimitAuth: { limit: 20, windowSeconds: 900 },
      rateLimitAuthIp: { limit: 100, windowSeconds: 900 },
      rateLimitApi: { limit: 300, windowSeconds: 60 },
      wsRateSend: { limit: 30, windowSeconds: 3 },
      wsRateTyping: { limit: 20, windowSeconds: 5 },
      wsRatePresence: { limit: 30, windowSeconds: 60 },
      wsRateConnect: { limit: 30, windowSeconds: 60 },
      wsRateEvents: { limit: 120, windowSeconds: 4 },
      wsMaxSocketsPerUser: 20,
      wsMaxSocketsPerIp: 200,
      http: { headersTimeoutMs: 10_000, keepAliveTimeoutMs: 65_000, requestTimeoutMs: 600_000, bodyTimeoutMs: 10_000, bodyMinBytesPerSecond: 4096 },
      otpSendLimit: { limit: 5, windowSeconds: 3600 },
      otpWrongCodeLimit: { limit: 20, windowSeconds: 86400 },
      bundleFetchLimit: { limit: 60, windowSeconds: 3600 },
      preKeyHandOutLimit: { limit: 20, windowSeconds: 3600 },
      linkPreviewLimit: { limit: 60, windowSeconds: 60 },
      outboundAllowHosts: [],
      reportLimit: { limit: 20, windowSeconds: 3600 },
      publicProfileLimit: { limit: 30, windowSeconds: 60 },
      exportLimit: { limit: 3, windowSeconds: 3600 },
      searchLimit: { limit: 60, windowSeconds: 60 },
      contactsMax: 5000,
      blocksMax: 5000,
      eventLogMaxEvents: 2000,
      eventLogMaxAgeSeconds: 86_400,
      nodeEnv: 'development',
    });
    expect(config.uploadDir).toBe(join(config.dataDir, 'uploads'));
    expect(config.appSecret.length).toBeGreaterThanOrEqual(32);
  });

  it('keeps the development secret stable across restarts', () => {
    const dir = dataDir();
    expect(parseEnv({ DATA_DIR: dir }).appSecret).toBe(parseEnv({ DATA_DIR: dir }).appSecret);
  });

  it('never takes an empty or cut-short development secret (a start that failed on a full disk left one), and makes one whole', () => {
    for (const left of ['', 'abc\n']) {
      const dir = dataDir();
      writeFileSync(join(dir, '.app-secret'), left);
      const { appSecret } = parseEnv({ DATA_DIR: dir });
      expect(appSecret.length).toBeGreaterThanOrEqual(32);
      expect(readFileSync(join(dir, '.app-secret'), 'utf8')).toBe(appSecret);
      expect(statSync(join(dir, '.app-secret')).mode & 0o077).toBe(0);
      expect(readdirSync(dir).filter((name) => name.endsWith('.tmp'))).toEqual([]);
      expect(parseEnv({ DATA_DIR: dir }).appSecret).toBe(appSecret);
    }
  });

  it('keeps the development secret on a file system without hard links (some network mounts): made by an exclusive create', () => {
    // The module object the code under test calls through (an import namespace would be a copy).
    const link = jest.spyOn(require('node:fs') as typeof import('node:fs'), 'linkSync').mockImplementation(() => {
      throw Object.assign(new Error('operation not permitted'), { code: 'EPERM' });
    });
    try {
      const dir = dataDir();
      const { appSecret } = parseEnv({ DATA_DIR: dir });
      expect(appSecret.length).toBeGreaterThanOrEqual(32);
      expect(readFileSync(join(dir, '.app-secret'), 'utf8')).toBe(appSecret);
      expect(parseEnv({ DATA_DIR: dir }).appSecret).toBe(appSecret);
      expect(link).toHaveBeenCalled();
    } finally {
      link.mockRestore();
    }
  });

  it('takes a Redis Cluster in REDIS_URL and refuses a malformed one by name', () => {
    const config = parseEnv({ REDIS_URL: 'redis+cluster://127.0.0.1:7001,127.0.0.1:7002', APP_SECRET, DATA_DIR: dataDir() });
    expect(config.redisUrl).toBe('redis+cluster://127.0.0.1:7001,127.0.0.1:7002');
    expect(parseEnv({ REDIS_URL: 'redis://127.0.0.1:6379', APP_SECRET, DATA_DIR: dataDir() }).redisUrl).toBe('redis://127.0.0.1:6379');
    expect(() => parseEnv({ REDIS_URL: 'redis+cluster://127.0.0.1', DATA_DIR: dataDir() })).toThrow(/REDIS_URL \(its value is not shown: it may hold a secret\) is not a redis:\/\/ URL or a redis\+cluster/);
  });

  it('refuses a REDIS_URL with a query (?db=, ?password=: read by some connections only) or a path that is not a database, saying how to write it, without its value', () => {
    for (const raw of ['redis://127.0.0.1:6379?db=5', 'redis://cache:6379?password=RedisPassw0rd', 'redis://:RedisPassw0rd@cache:6379/five']) {
      let message = '';
      try {
        parseEnv({ REDIS_URL: raw, APP_SECRET, DATA_DIR: dataDir() });
      } catch (error) {
        message = (error as ConfigError).message;
      }
      expect(message).toMatch(/REDIS_URL \(its value is not shown: it may hold a secret\) (sets options after its host|has a path that is not a database number).*: write redis:\/\/\[user:password@\]host:port\/<db>/);
      expect(message).not.toContain('Passw0rd');
    }
    expect(parseEnv({ REDIS_URL: 'redis://127.0.0.1:6379/5', APP_SECRET, DATA_DIR: dataDir() }).redisUrl).toBe('redis://127.0.0.1:6379/5');
  });

  it('names a malformed secret or credential-bearing URL without printing its value (it goes to the deploy logs)', () => {
    const secrets = {
      APP_SECRET: 'hunter2-short-secret',
      METRICS_TOKEN: 'tok3n',
      DATABASE_URL: 'postgress://app:DbPassw0rd@db/h2v',
      REDIS_URL: 'rediss//:RedisPassw0rd@cache',
      SMTP_URL: 'smpt://mailer:MailPassw0rd@mail',
    };
    let message = '';
    try {
      parseEnv({ ...secrets, DATA_DIR: dataDir() });
    } catch (error) {
      message = (error as ConfigError).message;
    }
    for (const [name, value] of Object.entries(secrets)) {
      expect(message).toContain(`${name} (its value is not shown`);
      expect(message).not.toContain(value);
    }
    expect(message).not.toMatch(/hunter2|Passw0rd|tok3n/);
  });

  it('refuses a URL whose user or password has a malformed %-escape, by name and without its value (the driver would throw an unnamed URIError at start-up)', () => {
    const urls = { DATABASE_URL: 'postgres://u:Ab%9xDbPass@db/h2v', REDIS_URL: 'redis://:Ab%9xRedisPass@cache:6379' };
    for (const [name, value] of [...Object.entries(urls), ['REDIS_URL', 'redis+cluster://:Ab%9xRedisPass@10.0.0.5:7001,10.0.0.6:7001']]) {
      let message = '';
      try {
        parseEnv({ [name]: value, APP_SECRET, DATA_DIR: dataDir() });
      } catch (error) {
        message = (error as ConfigError).message;
      }
      expect(message).toContain(`${name} (its value is not shown: it may hold a secret) has a malformed %-escape in its user or password (write % as %25)`);
      expect(message).not.toContain('Pass');
    }
    // Written as %25, the same passwords are taken.
    const escaped = Object.fromEntries(Object.entries(urls).map(([name, value]) => [name, value.replace('%9x', '%259x')]));
    expect(parseEnv({ ...escaped, APP_SECRET, DATA_DIR: dataDir() })).toMatchObject({ databaseUrl: escaped.DATABASE_URL, redisUrl: escaped.REDIS_URL });
  });

  it('names every malformed variable at once', () => {
    try {
      parseEnv({ PORT: 'eighty', DATABASE_URL: 'mysql://x', RATE_LIMIT_API: '300', OTP_WRONG_CODE_LIMIT: '0/60', WORKERS: 'maybe', DATA_DIR: dataDir() });
      throw new Error('expected a ConfigError');
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      const message = (error as ConfigError).message;
      for (const name of ['PORT', 'DATABASE_URL', 'RATE_LIMIT_API', 'OTP_WRONG_CODE_LIMIT', 'WORKERS']) expect(message).toContain(name);
    }
  });

  it('reads the event log limits and refuses values out of range', () => {
    expect(parseEnv({ DATA_DIR: dataDir(), EVENT_LOG_MAX_EVENTS: '500', EVENT_LOG_MAX_AGE_SECONDS: '3600' })).toMatchObject({ eventLogMaxEvents: 500, eventLogMaxAgeSeconds: 3600 });
    for (const [name, value] of [['EVENT_LOG_MAX_EVENTS', '5'], ['EVENT_LOG_MAX_EVENTS', '2k'], ['EVENT_LOG_MAX_AGE_SECONDS', '30'], ['EVENT_LOG_MAX_AGE_SECONDS', '-1'], ['EVENT_LOG_MAX_AGE_SECONDS', '2592001']]) {
      expect(() => parseEnv({ DATA_DIR: dataDir(), [name]: value })).toThrow(new RegExp(name));
    }
  });

  it('reads the contact and block caps and refuses values out of range', () => {
    expect(parseEnv({ DATA_DIR: dataDir(), CONTACTS_MAX: '100', BLOCKS_MAX: '50' })).toMatchObject({ contactsMax: 100, blocksMax: 50 });
    for (const [name, value] of [['CONTACTS_MAX', '0'], ['CONTACTS_MAX', '100001'], ['BLOCKS_MAX', '5k'], ['BLOCKS_MAX', '-1']]) {
      expect(() => parseEnv({ DATA_DIR: dataDir(), [name]: value })).toThrow(new RegExp(name));
    }
  });

  it('leaves metrics unserved by default and refuses a short metrics token', () => {
    expect(parseEnv({ DATA_DIR: dataDir() })).toMatchObject({ metricsToken: null, metricsPort: null, metricsHost: '127.0.0.1' });
    expect(parseEnv({ DATA_DIR: dataDir(), METRICS_TOKEN: 'a-long-enough-token', METRICS_PORT: '9464' })).toMatchObject({ metricsToken: 'a-long-enough-token', metricsPort: 9464 });
    expect(() => parseEnv({ DATA_DIR: dataDir(), METRICS_TOKEN: 'short' })).toThrow(/METRICS_TOKEN/);
  });

  it('refuses production without SMTP and a secret', () => {
    expect(() => parseEnv({ NODE_ENV: 'production', DATA_DIR: dataDir() })).toThrow(/SMTP_URL.*\n.*APP_SECRET/s);
    // A secret of spaces only is none (it used to pass, and a per-process secret was made instead).
    expect(() => parseEnv({ NODE_ENV: 'production', SMTP_URL: 'smtp://mail:25', APP_SECRET: '   ', DATA_DIR: dataDir() })).toThrow(/APP_SECRET is required/);
  });

  it('refuses DATABASE_URL or REDIS_URL without APP_SECRET outside production: a secret generated per DATA_DIR would differ between instances and workers', () => {
    for (const shared of [{ DATABASE_URL: 'postgres://h2v@db/h2v', REDIS_URL: 'redis://cache:6379' }, { DATABASE_URL: 'postgres://h2v@db/h2v' }, { REDIS_URL: 'redis://cache:6379' }]) {
      for (const nodeEnv of ['development', 'test']) {
        expect(() => parseEnv({ ...shared, NODE_ENV: nodeEnv, DATA_DIR: dataDir() })).toThrow(/APP_SECRET is required with DATABASE_URL or REDIS_URL/);
      }
      expect(parseEnv({ ...shared, APP_SECRET, DATA_DIR: dataDir() }).appSecret).toBe(APP_SECRET);
    }
    // The embedded mode (neither set) is one process: it still makes its own.
    expect(parseEnv({ DATA_DIR: dataDir() }).appSecret.length).toBeGreaterThanOrEqual(32);
  });

  it('refuses to start in production with the placeholder secret the compose file used to default to', () => {
    const production = { NODE_ENV: 'production', SMTP_URL: 'smtp://mail:25', DATA_DIR: dataDir() };
    for (const secret of ['change-me-to-a-long-random-secret-of-32+chars', 'CHANGEME-CHANGEME-CHANGEME-CHANGEME', 'x'.repeat(40), 'replace_me_with_a_real_secret_of_32_characters']) {
      expect(() => parseEnv({ ...production, APP_SECRET: secret })).toThrow(/APP_SECRET is a published placeholder/);
    }
    expect(parseEnv({ ...production, APP_SECRET: 'Qm9vdHN0cmFwcGVkLXJhbmRvbS1zZWNyZXQtMjAyNg' }).appSecret).toBe('Qm9vdHN0cmFwcGVkLXJhbmRvbS1zZWNyZXQtMjAyNg');
    // Outside production a placeholder is merely weak: a developer's compose file still starts.
    expect(parseEnv({ APP_SECRET: 'change-me-to-a-long-random-secret-of-32+chars', DATA_DIR: dataDir() }).appSecret).toBe('change-me-to-a-long-random-secret-of-32+chars');
  });

  it('reads OUTBOUND_ALLOW_HOSTS as canonical host:port pairs and names a malformed one', () => {
    expect(parseEnv({ DATA_DIR: dataDir() }).outboundAllowHosts).toEqual([]);
    expect(parseEnv({ OUTBOUND_ALLOW_HOSTS: ' Relay.Internal:8443, 127.1:80,[0:0::1]:4000 ', DATA_DIR: dataDir() }).outboundAllowHosts).toEqual([
      'relay.internal:8443',
      '127.0.0.1:80',
      '[::1]:4000',
    ]);
    for (const bad of ['relay.internal', '::1:4000', 'a/b:80', 'host:0', 'host:70000', 'user@host:80']) {
      expect(() => parseEnv({ OUTBOUND_ALLOW_HOSTS: bad, DATA_DIR: dataDir() })).toThrow(/OUTBOUND_ALLOW_HOSTS/);
    }
  });

  it('serves the API docs unless API_DOCS is off', () => {
    expect(parseEnv({ DATA_DIR: dataDir() }).apiDocs).toBe(true);
    expect(parseEnv({ API_DOCS: 'off', DATA_DIR: dataDir() }).apiDocs).toBe(false);
    expect(() => parseEnv({ API_DOCS: 'sometimes', DATA_DIR: dataDir() })).toThrow(/API_DOCS/);
  });

  it('parses proxies, origins and rate limits', () => {
    const config = parseEnv({ TRUST_PROXY: '2', CORS_ORIGINS: 'https://a.example, http://localhost:5173', RATE_LIMIT_AUTH: '5/60', DATA_DIR: dataDir() });
    expect(config.trustProxy).toBe(2);
    expect(config.corsOrigins).toEqual(['https://a.example', 'http://localhost:5173']);
    expect(config.rateLimitAuth).toEqual({ limit: 5, windowSeconds: 60 });
  });

  it('refuses a rate limit whose count or window SQL cannot hold (every send-otp answered 500), naming the variable and the range', () => {
    for (const [name, value] of [['OTP_WRONG_CODE_LIMIT', '9999999999/86400'], ['OTP_SEND_LIMIT', '5/9999999999'], ['RATE_LIMIT_API', '2147483648/60'], ['WS_RATE_SEND', '30/315360001']]) {
      expect(() => parseEnv({ [name]: value, DATA_DIR: dataDir() })).toThrow(new RegExp(`${name}="${value}" is out of range: the count goes from 1 to 2147483647, the seconds from 1 to 315360000`));
    }
    expect(parseEnv({ OTP_WRONG_CODE_LIMIT: '2147483647/315360000', DATA_DIR: dataDir() }).otpWrongCodeLimit).toEqual({ limit: 2147483647, windowSeconds: 315360000 });
  });

  it('takes a keep-alive timeout in milliseconds and refuses one out of range by name', () => {
    expect(parseEnv({ HTTP_KEEPALIVE_TIMEOUT_MS: '610000', DATA_DIR: dataDir() }).http.keepAliveTimeoutMs).toBe(610_000);
    for (const value of ['0', '99', '3600001', '65s']) {
      expect(() => parseEnv({ HTTP_KEEPALIVE_TIMEOUT_MS: value, DATA_DIR: dataDir() })).toThrow(/HTTP_KEEPALIVE_TIMEOUT_MS/);
    }
  });

  it('refuses a headers timeout longer than the request timeout', () => {
    expect(() => parseEnv({ HTTP_HEADERS_TIMEOUT_MS: '20000', HTTP_REQUEST_TIMEOUT_MS: '10000', DATA_DIR: dataDir() })).toThrow(/HTTP_HEADERS_TIMEOUT_MS/);
  });

  it('refuses WORKERS=off without both Redis and PostgreSQL (no separate worker could run the background work), and takes it with both', () => {
    expect(() => parseEnv({ WORKERS: 'off', DATA_DIR: dataDir() })).toThrow(/WORKERS=off needs REDIS_URL and DATABASE_URL/);
    // Embedded database: the worker could not share it, so OTP mail would never be sent.
    expect(() => parseEnv({ WORKERS: 'off', REDIS_URL: 'redis://127.0.0.1:6379', APP_SECRET, DATA_DIR: dataDir() })).toThrow(/WORKERS=off needs REDIS_URL and DATABASE_URL/);
    expect(parseEnv({ WORKERS: 'off', REDIS_URL: 'redis://127.0.0.1:6379', DATABASE_URL: 'postgres://h2v@db/h2v', APP_SECRET, DATA_DIR: dataDir() }).workers).toBe(false);
  });

  describe('Web Push (VAPID)', () => {
    const pair = () => {
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      // OpenSSL drops the private key's leading zero bytes (1 key in 256); VAPID keys are always 32 bytes.
      const privateKey = ecdh.getPrivateKey();
      return { publicKey: ecdh.getPublicKey().toString('base64url'), privateKey: Buffer.concat([Buffer.alloc(32 - privateKey.length), privateKey]).toString('base64url') };
    };

    it('generates a pair into DATA_DIR in the embedded mode and keeps it across restarts', () => {
      const dir = dataDir();
      const first = parseEnv({ DATA_DIR: dir }).push!;
      expect(Buffer.from(first.publicKey, 'base64url')).toHaveLength(65);
      expect(Buffer.from(first.privateKey, 'base64url')).toHaveLength(32);
      expect(first.subject).toBe('mailto:no-reply@localhost');
      expect(parseEnv({ DATA_DIR: dir }).push).toEqual(first);
    });

    it('makes the pair again over an empty or broken kept file, instead of refusing to start', () => {
      for (const left of ['', '{"publicKey":', '{"publicKey":"x","privateKey":"y"}']) {
        const dir = dataDir();
        writeFileSync(join(dir, '.vapid-keys.json'), left);
        const made = parseEnv({ DATA_DIR: dir }).push!;
        expect(Buffer.from(made.publicKey, 'base64url')).toHaveLength(65);
        expect(Buffer.from(made.privateKey, 'base64url')).toHaveLength(32);
        expect(parseEnv({ DATA_DIR: dir }).push).toEqual(made);
      }
    });

    it('is off in cluster mode without keys, and on with a configured pair', () => {
      expect(parseEnv({ DATA_DIR: dataDir(), DATABASE_URL: 'postgres://db/h2v', APP_SECRET }).push).toBeNull();
      const keys = pair();
      const config = parseEnv({ DATA_DIR: dataDir(), DATABASE_URL: 'postgres://db/h2v', APP_SECRET, VAPID_PUBLIC_KEY: keys.publicKey, VAPID_PRIVATE_KEY: keys.privateKey, VAPID_SUBJECT: 'https://chat.example.com' });
      expect(config.push).toEqual({ ...keys, subject: 'https://chat.example.com' });
    });

    it('refuses in production, with a configured pair, a subject on a host push services cannot reach, set or derived from MAIL_FROM', () => {
      const production = { NODE_ENV: 'production', SMTP_URL: 'smtp://mail:25', APP_SECRET, DATABASE_URL: 'postgres://db/h2v' };
      const { publicKey, privateKey } = pair();
      const keys = { VAPID_PUBLIC_KEY: publicKey, VAPID_PRIVATE_KEY: privateKey };
      for (const subject of ['mailto:ops@localhost', 'mailto:ops@push.localhost', 'https://h2v.local/contact', 'mailto:ops@chat.test', 'mailto:ops@x.invalid', 'https://chat.example']) {
        expect(() => parseEnv({ ...production, ...keys, VAPID_SUBJECT: subject, DATA_DIR: dataDir() })).toThrow(new RegExp(`VAPID_SUBJECT="${subject}" names [^ ]+, which Apple's push service refuses`));
      }
      // The compose file's MAIL_FROM, and the default one.
      for (const mailFrom of ['H2V <no-reply@h2v.local>', undefined]) {
        expect(() => parseEnv({ ...production, ...keys, MAIL_FROM: mailFrom, DATA_DIR: dataDir() })).toThrow(/VAPID_SUBJECT is unset and defaults to mailto:no-reply@[\w.]+ \(MAIL_FROM's address\)/);
      }
      for (const subject of ['mailto:ops@example.com', 'https://chat.example.com/contact']) {
        expect(parseEnv({ ...production, ...keys, VAPID_SUBJECT: subject, DATA_DIR: dataDir() }).push?.subject).toBe(subject);
      }
      expect(parseEnv({ ...production, ...keys, MAIL_FROM: 'H2V <no-reply@chat.example.com>', DATA_DIR: dataDir() }).push?.subject).toBe('mailto:no-reply@chat.example.com');
      // Without a pair push is off, and outside production nothing is sent to Apple's service for real.
      expect(parseEnv({ ...production, DATA_DIR: dataDir() }).push).toBeNull();
      expect(parseEnv({ ...keys, APP_SECRET, DATABASE_URL: 'postgres://db/h2v', VAPID_SUBJECT: 'mailto:ops@h2v.test', DATA_DIR: dataDir() }).push?.subject).toBe('mailto:ops@h2v.test');
    });

    it('refuses half a pair, keys of the wrong shape, a mismatched pair and a bad subject', () => {
      const [a, b] = [pair(), pair()];
      expect(() => parseEnv({ DATA_DIR: dataDir(), VAPID_PUBLIC_KEY: a.publicKey })).toThrow(/VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY go together/);
      expect(() => parseEnv({ DATA_DIR: dataDir(), VAPID_PUBLIC_KEY: 'short', VAPID_PRIVATE_KEY: 'not base64!' })).toThrow(/VAPID_PUBLIC_KEY is not.*\n.*VAPID_PRIVATE_KEY is not/s);
      expect(() => parseEnv({ DATA_DIR: dataDir(), VAPID_PUBLIC_KEY: a.publicKey, VAPID_PRIVATE_KEY: b.privateKey })).toThrow(/not the public key of VAPID_PRIVATE_KEY/);
      expect(() => parseEnv({ DATA_DIR: dataDir(), VAPID_SUBJECT: 'http://example.com' })).toThrow(/VAPID_SUBJECT/);
    });
  });
});

describe('requireWritableDirs', () => {
  const mode = (dir: string) => (statSync(dir).mode & 0o777).toString(8);

  it('makes the embedded database, and DATA_DIR and UPLOAD_DIR when it makes them, private (0700); closes an open database; leaves existing directories as given', () => {
    const root = dataDir();
    const made = parseEnv({ DATA_DIR: join(root, 'data') });
    requireWritableDirs(made);
    expect([mode(made.dataDir), mode(join(made.dataDir, 'db')), mode(made.uploadDir)]).toEqual(['700', '700', '700']);

    // An earlier release's database, in a DATA_DIR and UPLOAD_DIR an operator made 0755.
    const given = join(root, 'given');
    mkdirSync(join(given, 'db'), { recursive: true });
    mkdirSync(join(given, 'uploads'));
    for (const dir of [given, join(given, 'db'), join(given, 'uploads')]) chmodSync(dir, 0o755);
    const config = parseEnv({ DATA_DIR: given });
    requireWritableDirs(config);
    expect([mode(given), mode(join(given, 'db')), mode(join(given, 'uploads'))]).toEqual(['755', '700', '755']);

    // One it cannot close (another user's) refuses the start, saying how to close it.
    chmodSync(join(given, 'db'), 0o750);
    const chmod = jest.spyOn(fs, 'chmodSync').mockImplementation(() => {
      throw Object.assign(new Error('operation not permitted'), { code: 'EPERM' });
    });
    try {
      expect(() => requireWritableDirs(config)).toThrow(
        new ConfigError([`the embedded database's directory "${join(given, 'db')}" is open to other users (mode 750) and this process cannot close it (EPERM): run \`chmod 700 '${join(given, 'db')}'\` as its owner`]),
      );
    } finally {
      chmod.mockRestore();
    }
  });

  it('with DATABASE_URL makes no database directory; UPLOAD_DIR is made private, its missing parents with the default mode', () => {
    const root = dataDir();
    const deployment = { APP_SECRET, DATABASE_URL: 'postgres://db/h2v', DATA_DIR: join(root, 'data'), UPLOAD_DIR: join(root, 'srv', 'uploads') };
    requireWritableDirs(parseEnv({ ...deployment, SMTP_URL: 'smtp://mail:25' }));
    mkdirSync(join(root, 'default'));
    expect([mode(join(root, 'srv', 'uploads')), mode(join(root, 'srv'))]).toEqual(['700', mode(join(root, 'default'))]);
    expect(existsSync(deployment.DATA_DIR)).toBe(false);
    // Without SMTP_URL, DATA_DIR keeps development mail.
    requireWritableDirs(parseEnv(deployment));
    expect(mode(deployment.DATA_DIR)).toBe('700');
    expect(readdirSync(deployment.DATA_DIR)).toEqual([]);
  });
});
