import { DynamicModule, Module } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import type { DestinationStream } from 'pino';
import { AppConfig } from '../config/app-config';

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

const REQUEST_ID = /^[\w.-]{1,64}$/;

/**
 * pino through nestjs-pino: JSON lines in production, pretty in development, a request id on
 * every line of a request. A test may pass its own destination stream to read the logs.
 */
@Module({})
export class LoggingModule {
  static forRoot(destination?: DestinationStream): DynamicModule {
    return {
      module: LoggingModule,
      imports: [
        LoggerModule.forRootAsync({
          inject: [AppConfig],
          useFactory: (config: AppConfig) => {
            const pretty = !config.isProduction && !destination && config.values.nodeEnv !== 'test';
            return {
              pinoHttp: [
                {
                  level: config.values.logLevel,
                  redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
                  genReqId: (req: IncomingMessage, res: ServerResponse) => {
                    const given = req.headers['x-request-id'];
                    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
                    res.setHeader('X-Request-Id', id);
                    return id;
                  },
                  // 503 is the documented answer during an outage (its cause is logged once, as a
                  // warning, where it is noticed): not one error line per request.
                  customLogLevel: (_req: IncomingMessage, res: ServerResponse, error?: Error) =>
                    res.statusCode === 503 ? 'warn' : error || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'info' : 'debug',
                  serializers: {
                    req: (req: { id: string; method: string; url: string }) => ({ id: req.id, method: req.method, url: req.url.split('?')[0] }),
                  },
                  autoLogging: { ignore: (req: IncomingMessage) => req.url === '/health' },
                  ...(pretty ? { transport: { target: 'pino-pretty', options: { singleLine: true, translateTime: 'SYS:HH:MM:ss.l' } } } : {}),
                },
                destination as DestinationStream,
              ].filter(Boolean) as never,
            };
          },
        }),
      ],
    };
  }
}
