import { INestApplication } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import { AppConfig } from '../config/app-config';
import { RequestLogging } from '../logging/request-log';
import { Metrics } from '../metrics/metrics';
import { AppWsAdapter } from '../../realtime/app-ws.adapter';
import { setupDocs } from '../../docs/setup-docs';
import { OriginPolicy } from './origin-policy';
import { RequestPipeline } from './request-pipeline';

/**
 * Everything HTTP-level that main.ts and the e2e app factory must share, so tests exercise the
 * exact production pipeline: proxy trust, the request pipeline (request ids and access logs,
 * metrics, default security headers, CORS, slow-client timeouts, the origin and client-header
 * checks of state-changing requests, JSON bodies with enveloped parse errors, input hygiene: see
 * RequestPipeline), the WebSocket adapter (same origin check) and the API docs.
 */
export function configureApp(app: INestApplication): void {
  const express_ = app as NestExpressApplication;
  const config = app.get(AppConfig).values;
  express_.set('trust proxy', config.trustProxy);
  express_.disable('x-powered-by');
  // Answers carry Cache-Control: no-store: an ETag (a SHA-1 of every JSON body) would never be used.
  express_.set('etag', false);
  const origins = new OriginPolicy(config.corsOrigins, config.trustProxy);
  const pipeline = new RequestPipeline({
    logging: app.get(RequestLogging),
    metrics: app.get(Metrics),
    origins,
    server: app.getHttpServer(),
    timeouts: config.http,
  });
  if (config.corsOrigins.length) {
    app.use(pipeline.begin);
    app.enableCors({ origin: config.corsOrigins, credentials: true });
    app.use(pipeline.proceed);
  } else {
    app.use(pipeline.handle);
  }
  app.useWebSocketAdapter(new AppWsAdapter(app, origins));
  if (config.apiDocs) setupDocs(app);
}
