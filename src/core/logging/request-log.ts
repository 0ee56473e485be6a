import { Inject, Injectable } from '@nestjs/common';
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Level, Logger } from 'pino';
import { AppConfig } from '../config/app-config';
import { ROOT_LOGGER } from './root-logger';

/** A request id a client or balancer may hand us (else we make one). */
const REQUEST_ID = /^[\w.-]{1,64}$/;

/**
 * Path segments that are capabilities, which let whoever holds them in: an invite link's code
 * (stored only as a hash) and an uploaded file's name (served to whoever has its URL). Logs name
 * them by their route parameter. Each is the path before the segment (a RegExp source) and that parameter.
 */
const CAPABILITIES: ReadonlyArray<[before: string, parameter: string]> = [
  [String.raw`\/api\/chats\/join\/`, ':code'],
  [String.raw`\/uploads\/(?:(?:medium|thumbs)\/)?`, ':name'],
];

const IN_PATH = CAPABILITIES.map(([before, parameter]) => [new RegExp(`^(${before})[^/]+`, 'i'), `$1${parameter}`] as const);
/** Anywhere in a text, a segment ending where a quoted or listed path would: at a slash, a query, a space, a quote, a bracket, a comma. */
const IN_TEXT = CAPABILITIES.map(([before, parameter]) => [new RegExp(`(${before})[^/?#\\s'"\`<>()[\\]{},;]+`, 'gi'), `$1${parameter}`] as const);
const ANY_IN_TEXT = new RegExp(CAPABILITIES.map(([before]) => before).join('|'), 'i');
/** A stack frame's line (`    at fn (/app/dist/src/uploads/uploads.service.js:305:11)`): a source file, never a capability. */
const STACK_FRAME = /^ {4}at .+:\d+:\d+\)?$/;

/** A request's path as logs may carry it: without its query (user data), and with its capabilities masked. */
export function loggedPath(url: string): string {
  const query = url.indexOf('?');
  let path = query === -1 ? url : url.slice(0, query);
  for (const [pattern, replacement] of IN_PATH) path = path.replace(pattern, replacement);
  return path;
}

/**
 * Free text as logs may carry it (an error's message or stack, a failed job's reason), with the
 * capabilities of the paths and URLs it quotes masked as loggedPath masks them. A backstop for
 * error paths only: what knows it handles a capability names it another way (the storage's
 * errors name an area, the image job an upload id). Stack frames are kept: they name source files
 * (a source file's path elsewhere, `…/src/uploads/x.js`, is masked: the safe side).
 */
export function maskCapabilities(text: string): string {
  if (!ANY_IN_TEXT.test(text)) return text;
  return text.replace(/^.*$/gm, (line) => (STACK_FRAME.test(line) ? line : IN_TEXT.reduce((masked, [pattern, replacement]) => masked.replace(pattern, replacement), line)));
}

/** One HTTP request as its log lines name it: `req: {id, method, url}`, the url as loggedPath gives it. */
export class RequestLog {
  private logger?: Logger;

  constructor(
    readonly id: string,
    private readonly req: IncomingMessage & { originalUrl?: string },
  ) {}

  get fields(): { id: string; method: string | undefined; url: string } {
    return { id: this.id, method: this.req.method, url: loggedPath(this.req.originalUrl ?? this.req.url ?? '') };
  }

  /** The root logger with this request bound, made the first time the request logs a line. */
  loggerOf(root: Logger): Logger {
    return (this.logger ??= root.child({ req: this.fields }));
  }
}

/**
 * Request ids and access logs, without pino-http's per-request child logger: a request gets an
 * id (the client's `X-Request-Id` when well-formed, else a UUID), echoed in `X-Request-Id`. The
 * access line is written when the answer is done, if its level is on: 2xx/3xx at debug, 4xx at
 * info, 5xx at error (503, the documented outage answer whose cause is logged once where it is
 * noticed, at warn). `/health` is never logged.
 *
 * With LOG_REQUEST_CONTEXT on (the default outside production) and LOG_LEVEL info or below, a
 * request also runs in a context that stamps its `req` on every line logged while it is handled
 * (AppLogger); the child logger behind that is only made if a line is logged. Otherwise that
 * context is not kept: on Node 20 an AsyncLocalStorage in use hooks every promise of the
 * process, the socket's as much as the request's: ~15% of the CPU of a request that reads the
 * database and Redis (/api/users/me: ~80 µs of ~530 on the bench machine) and a quarter of the
 * send path's throughput (+50–70 µs per message, README "Configuration"). Lines written then name
 * no request, except those that carry the id themselves: the access line, and the
 * unhandled-error line of the exception filter (whose id the client gets too).
 */
@Injectable()
export class RequestLogging {
  private readonly context = new AsyncLocalStorage<RequestLog>();
  /** Whether requests run in the logging context (LOG_REQUEST_CONTEXT on, LOG_LEVEL info and below). */
  readonly stampsLines: boolean;

  constructor(@Inject(ROOT_LOGGER) private readonly root: Logger, config: AppConfig) {
    this.stampsLines = config.values.logRequestContext && root.isLevelEnabled('info');
  }

  /** Names the request: `req.id`, the `X-Request-Id` header. */
  start(req: IncomingMessage & { id?: string }, res: ServerResponse): RequestLog {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    req.id = id;
    res.setHeader('X-Request-Id', id);
    return new RequestLog(id, req);
  }

  /** Runs `handle` (the rest of the request) with `log` as the request of every line logged meanwhile, when lines are stamped. */
  run(log: RequestLog, handle: () => void): void {
    if (this.stampsLines) this.context.run(log, handle);
    else handle();
  }

  /** The request being handled, if any. */
  current(): RequestLog | undefined {
    return this.context.getStore();
  }

  /** Writes the access line of a request whose answer is done (`completed`) or was cut short. */
  finished(log: RequestLog, res: ServerResponse, responseTimeMs: number, completed: boolean): void {
    const status = res.statusCode;
    // 502-504 say another service failed (an upstream a user pointed the link preview at, a database that is away): a warning, not our fault.
    const level: Level = status >= 502 && status <= 504 ? 'warn' : status >= 500 ? 'error' : status >= 400 ? 'info' : 'debug';
    if (!this.root.isLevelEnabled(level)) return;
    const fields = log.fields;
    if (fields.url === '/health') return;
    const message = !completed ? 'request aborted' : status >= 500 ? 'request errored' : 'request completed';
    this.root[level]({ req: fields, res: { statusCode: status }, responseTime: Math.round(responseTimeMs) }, message);
  }
}
