import { Inject, Injectable, LoggerService, Optional } from '@nestjs/common';
import type { Level, Logger } from 'pino';
import { loggable } from '../errors/all-exceptions.filter';
import { RequestLogging } from './request-log';
import { ROOT_LOGGER } from './root-logger';

/**
 * Nest's logger (`new Logger('Chats')`, framework messages) written through pino, with the
 * contract of nestjs-pino's Logger: the context (the last extra argument) becomes `context`, an
 * object first argument is merged into the line, an Error becomes `err`. A line logged while an
 * HTTP request is handled carries that request (`req: {id, method, url}`, see RequestLogging).
 * A level that is off costs one check.
 */
@Injectable()
export class AppLogger implements LoggerService {
  constructor(
    @Inject(ROOT_LOGGER) private readonly root: Logger,
    /** Absent in the logger an app starts with (startupLogger): no request is handled yet. */
    @Optional() private readonly requests?: RequestLogging,
  ) {}

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }

  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }

  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  private write(level: Level, message: unknown, params: unknown[]): void {
    if (!this.root.isLevelEnabled(level)) return;
    const logger = this.requests?.current()?.loggerOf(this.root) ?? this.root;
    const fields: Record<string, unknown> = {};
    let rest = params;
    if (params.length) {
      fields.context = params[params.length - 1];
      rest = params.slice(0, -1);
    }
    if (typeof message === 'object' && message !== null) {
      // As every error line logs one: its code as errorCode (`code` is redacted: sign-in codes), capabilities masked.
      if (message instanceof Error) fields.err = loggable(message);
      else Object.assign(fields, message);
      logger[level](fields, ...(rest as []));
    } else if (isExceptionHandlerStack(level, message, rest)) {
      // Nest's own exception handlers call error(message, stack): keep the stack as an error's.
      const err = new Error(message as string);
      err.stack = rest[0] as string;
      logger[level]({ ...fields, err: loggable(err) });
    } else {
      logger[level](fields, message as string, ...(rest as []));
    }
  }
}

function isExceptionHandlerStack(level: Level, message: unknown, rest: unknown[]): boolean {
  return level === 'error' && typeof message === 'string' && rest.length === 1 && typeof rest[0] === 'string' && /\n\s*at /.test(rest[0]);
}
