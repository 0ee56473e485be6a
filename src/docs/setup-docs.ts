import { INestApplication } from '@nestjs/common';
import { setupApiDocs } from '../core/http/api-docs';
import { SocketHandlers } from '../realtime/socket-handlers';
import { buildAsyncApi, serverPayloadClasses } from './asyncapi';

/** The AsyncAPI document's path, beside the OpenAPI one. */
export const ASYNCAPI_PATH = '/api/docs/asyncapi.json';

/**
 * `/api/docs` (OpenAPI: the HTTP routes) and `/api/docs/asyncapi.json` (AsyncAPI 3.0: the
 * socket). The socket document is built on first request, once the gateway has found its
 * handlers, and kept.
 */
export function setupDocs(app: INestApplication): void {
  setupApiDocs(app, {
    extraModels: serverPayloadClasses(),
    beside: (openApi) => {
      let document: object | null = null;
      const version = openApi.info.version;
      app.getHttpAdapter().get(ASYNCAPI_PATH, (_req: unknown, res: { json(body: unknown): void }) => {
        document ??= buildAsyncApi(openApi.components?.schemas ?? {}, app.get(SocketHandlers).inbound(), version);
        res.json(document);
      });
    },
  });
}
