import pino, { DestinationStream, Logger } from 'pino';
import { AppConfig } from '../config/app-config';

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
export function createRootLogger(config: AppConfig, destination?: DestinationStream): Logger {
  const pretty = !config.isProduction && !destination && config.values.nodeEnv !== 'test';
  const options: pino.LoggerOptions = {
    level: config.values.logLevel,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    ...(pretty ? { transport: { target: 'pino-pretty', options: { singleLine: true, translateTime: 'SYS:HH:MM:ss.l' } } } : {}),
  };
  return destination ? pino(options, destination) : pino(options);
}
