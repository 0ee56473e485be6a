import { INestApplication } from '@nestjs/common';
import { NestExpressApplication } from '@nestjs/platform-express';
import cookieParser from 'cookie-parser';
import express, { NextFunction, Request, Response } from 'express';
import { AppConfig } from '../config/app-config';
import { AppError, toAppError } from '../errors';
import { AppWsAdapter } from '../../realtime/app-ws.adapter';
import { setupApiDocs } from './api-docs';
import { limitSlowClients } from './slow-clients';
import { OriginPolicy } from './origin-policy';
import { refuseForeignOrigins, refuseUnreadBodies, requireClientHeaderWithCookie, securityHeaders } from './request-hardening';
import { inputHygiene } from './input-hygiene';

/** Largest JSON body accepted; bigger bodies answer 413 PAYLOAD_TOO_LARGE. */
export const JSON_BODY_LIMIT = '256kb';

/**
 * Everything HTTP-level that main.ts and the e2e app factory must share, so tests exercise the
 * exact production pipeline: proxy trust, default security headers, CORS, slow-client timeouts,
 * the origin and client-header checks of state-changing requests, body parsing (JSON only; multipart is read by the
 * upload routes) with enveloped parse errors, cookies, input hygiene (NUL, lone surrogates, depth), the WebSocket adapter (same origin check)
 * and the API docs.
 */
export function configureApp(app: INestApplication): void {
  const express_ = app as NestExpressApplication;
  const config = app.get(AppConfig).values;
  express_.set('trust proxy', config.trustProxy);
  express_.disable('x-powered-by');
  const origins = new OriginPolicy(config.corsOrigins, config.trustProxy);
  app.use(securityHeaders);
  if (config.corsOrigins.length) app.enableCors({ origin: config.corsOrigins, credentials: true });
  app.use(limitSlowClients(app.getHttpServer(), config.http));
  app.use(refuseForeignOrigins(origins));
  app.use(requireClientHeaderWithCookie);
  app.use(refuseUnreadBodies);
  app.use(express.json({ limit: JSON_BODY_LIMIT }));
  app.use(bodyErrorHandler);
  app.use(cookieParser());
  app.use(inputHygiene);
  app.useWebSocketAdapter(new AppWsAdapter(app, origins));
  if (config.apiDocs) setupApiDocs(app);
}

/** body-parser reports malformed or oversized bodies through Express; answer them in the envelope. */
function bodyErrorHandler(error: unknown, _req: Request, res: Response, next: NextFunction): void {
  const appError: AppError | null = toAppError(error);
  if (!appError) return next(error);
  res.status(appError.status).json(appError.toBody());
}
