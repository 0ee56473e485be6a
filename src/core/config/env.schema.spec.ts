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

  it('parses proxies, origins and rate limits', () => {
    const config = parseEnv({ TRUST_PROXY: '2', CORS_ORIGINS: 'https://a.example, http://localhost:5173', RATE_LIMIT_AUTH: '5/60', DATA_DIR: dataDir() });
    expect(config.trustProxy).toBe(2);
    expect(config.corsOrigins).toEqual(['https://a.example', 'http://localhost:5173']);
    expect(config.rateLimitAuth).toEqual({ limit: 5, windowSeconds: 60 });
  });
});
