import { ConfigError, parseEnv } from './env.schema';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dataDir = () => mkdtempSync(join(tmpdir(), 'h2v-config-'));

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
      wsRateEvents: { limit: 120, windowSeconds: 4 },
      wsMaxSocketsPerUser: 20,
      wsMaxSocketsPerIp: 200,
      http: { headersTimeoutMs: 10_000, requestTimeoutMs: 600_000, bodyTimeoutMs: 10_000, bodyMinBytesPerSecond: 4096 },
      otpSendLimit: { limit: 5, windowSeconds: 3600 },
      otpWrongCodeLimit: { limit: 20, windowSeconds: 86400 },
      bundleFetchLimit: { limit: 60, windowSeconds: 3600 },
      preKeyHandOutLimit: { limit: 20, windowSeconds: 3600 },
      nodeEnv: 'development',
    });
    expect(config.uploadDir).toBe(join(config.dataDir, 'uploads'));
    expect(config.appSecret.length).toBeGreaterThanOrEqual(32);
  });

  it('keeps the development secret stable across restarts', () => {
    const dir = dataDir();
    expect(parseEnv({ DATA_DIR: dir }).appSecret).toBe(parseEnv({ DATA_DIR: dir }).appSecret);
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

  it('refuses production without SMTP and a secret', () => {
    expect(() => parseEnv({ NODE_ENV: 'production', DATA_DIR: dataDir() })).toThrow(/SMTP_URL.*\n.*APP_SECRET/s);
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

  it('refuses a headers timeout longer than the request timeout', () => {
    expect(() => parseEnv({ HTTP_HEADERS_TIMEOUT_MS: '20000', HTTP_REQUEST_TIMEOUT_MS: '10000', DATA_DIR: dataDir() })).toThrow(/HTTP_HEADERS_TIMEOUT_MS/);
  });
});
