import express, { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Server } from 'node:http';
import type { HttpTimeouts } from '../config/env.schema';
import { AppError, toAppError } from '../errors';
import { RequestLog, RequestLogging } from '../logging/request-log';
import { recordHttpRequest } from '../metrics/http-metrics';
import { Metrics } from '../metrics/metrics';
import { shuttingDown } from '../shutdown';
import { requestInputProblems } from './input-hygiene';
import { sendJson } from './json-response';
import { OriginPolicy } from './origin-policy';
import { foreignOriginRefusal, hasBody, missingClientHeaderRefusal, setSecurityHeaders, unreadBodyRefusal } from './request-hardening';
import { answerClientErrors } from './client-errors';
import { limitSlowClients } from './slow-clients';

/** Largest JSON body accepted; bigger bodies answer 413 PAYLOAD_TOO_LARGE. */
export const JSON_BODY_LIMIT = '256kb';

const REQUEST_LOG = Symbol('h2v:request-log');
type PipelinedRequest = Request & { [REQUEST_LOG]: RequestLog };

export interface RequestPipelineParts {
  logging: RequestLogging;
  metrics: Metrics;
  origins: OriginPolicy;
  server: Server;
  timeouts: HttpTimeouts;
}

/**
 * What every request goes through before routing, in one pass rather than a dozen Express
 * middlewares (each a trip through Express's router):
 * 1. `begin`: a request id and its access line (RequestLogging), the HTTP metrics, the default
 *    security headers; once the process is shutting down, `Connection: close` (drainHttp). Then
 *    CORS, when CORS_ORIGINS is set (Nest's own middleware, between the two halves, so preflights
 *    are named, counted and marked too).
 * 2. `proceed`: the slow-client watch of a body, the origin and client-header checks of
 *    state-changing requests and the body type check (before any body is read), the JSON body
 *    (multipart is read by the upload routes), the input rule on path, query and body, each
 *    refusal answered in the envelope; then routing, in the request's logging context.
 * The session cookie is read where it is used (tokenFrom), not parsed into `req.cookies`.
 */
export class RequestPipeline {
  private readonly parseJson = express.json({ limit: JSON_BODY_LIMIT });
  private readonly watchBody: (req: Request, res: Response) => void;

  constructor(private readonly parts: RequestPipelineParts) {
    this.watchBody = limitSlowClients(parts.server, parts.timeouts);
    answerClientErrors(parts.server);
  }

  readonly begin: RequestHandler = (req, res, next) => {
    this.start(req as PipelinedRequest, res);
    next();
  };

  readonly proceed: RequestHandler = (req, res, next) => {
    const bodied = hasBody(req);
    if (bodied) this.watchBody(req, res);
    const refusal = foreignOriginRefusal(this.parts.origins, req) ?? missingClientHeaderRefusal(req) ?? (bodied ? unreadBodyRefusal(req) : null);
    if (refusal) return refuse(res, refusal);
    if (!bodied) return this.route(req as PipelinedRequest, res, next);
    this.parseJson(req, res, (error?: unknown) => {
      if (error === undefined) return this.route(req as PipelinedRequest, res, next);
      // body-parser reports malformed or oversized bodies as errors: answered in the envelope.
      const appError = toAppError(error);
      if (appError) refuse(res, appError);
      else next(error);
    });
  };

  /** `begin` and `proceed` as one middleware, when nothing runs between them. */
  readonly handle: RequestHandler = (req, res, next) => {
    this.start(req as PipelinedRequest, res);
    this.proceed(req, res, next);
  };

  private start(req: PipelinedRequest, res: Response): void {
    const started = performance.now();
    const log = (req[REQUEST_LOG] = this.parts.logging.start(req, res));
    setSecurityHeaders(res);
    if (shuttingDown()) res.shouldKeepAlive = false;
    // 'close' comes once, after 'finish' or instead of it; `on` spares `once`'s wrapper.
    res.on('close', () => {
      const ms = performance.now() - started;
      if (res.writableFinished) recordHttpRequest(this.parts.metrics, req, res, ms / 1000);
      this.parts.logging.finished(log, res, ms, res.writableFinished);
      // An answer begun before the signal kept its connection: end it now it is idle, not at the drain's end.
      if (res.shouldKeepAlive && shuttingDown()) req.socket.end();
    });
  }

  private route(req: PipelinedRequest, res: Response, next: NextFunction): void {
    const errors = requestInputProblems(req);
    if (errors) return refuse(res, new AppError('VALIDATION_ERROR', undefined, { errors }));
    this.parts.logging.run(req[REQUEST_LOG], next);
  }
}

function refuse(res: Response, error: AppError): void {
  sendJson(res, error.status, error.toBody());
}
