import express from 'express';

/**
 * A calibration point of scenario 4: bare Express 5 (the framework under NestJS's
 * platform-express) answering GET /health with the same JSON as bare `node:http`, with the H2V
 * server's Express settings (no ETag, no X-Powered-By) and nothing else: no middleware, no Nest.
 * What the `/health` target (≥ 0.4× bare `node:http`) leaves for everything above Express.
 */
const port = Number(process.env.PORT ?? 0);

const app = express();
app.disable('x-powered-by');
app.set('etag', false);
app.get('/health', (_req, res) => {
  res.json({ success: true, data: { status: 'ok', timestamp: new Date().toISOString() } });
});

const server = app.listen(port, '127.0.0.1');
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
});
