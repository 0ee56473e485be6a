import { createServer } from 'node:http';

/**
 * The HTTP baseline of scenario 4: bare `node:http` answering GET /health with the same JSON
 * body as the H2V server's liveness route (the envelope with a fresh timestamp), and 404 to
 * anything else. No framework, no middleware: what this machine can do per request.
 */
const port = Number(process.env.PORT ?? 0);

const server = createServer((request, response) => {
  if (request.url === '/health') {
    const body = JSON.stringify({ success: true, data: { status: 'ok', timestamp: new Date().toISOString() } });
    response.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    response.end(body);
    return;
  }
  response.writeHead(404).end();
});

server.listen(port, '127.0.0.1');
process.once('SIGTERM', () => {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
});
