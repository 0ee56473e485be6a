import pino, { DestinationStream, Logger } from 'pino';
import type { AppConfigValues } from '../config/env.schema';

/** The process's pino logger; every other logger is a child of it. */
export const ROOT_LOGGER = Symbol('h2v:root-logger');

/** Header and field paths that never reach a log line: credentials, cookies, codes, tokens. */
export const REDACTED_PATHS = [
  'req.headers.cookie',
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'res.headers["set-cookie"]',
  '*.token',
  '*.code',
  '*.otp',
  '*.verifyToken',
  '*.ciphertext',
];

/** JSON lines in production and tests, pretty lines in development; `destination` (tests) replaces stdout. */
export function createRootLogger(config: Pick<AppConfigValues, 'nodeEnv' | 'logLevel'>, destination?: DestinationStream): Logger {
  const pretty = config.nodeEnv !== 'production' && config.nodeEnv !== 'test' && !destination;
  const options: pino.LoggerOptions = {
    level: config.logLevel,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { singleLine: true, translateTime: 'SYS:HH:MM:ss.l' } } } : {}),
  };
  return destination ? pino(options, destination) : pino(options);
}
