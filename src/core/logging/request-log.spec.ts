import type { IncomingMessage, ServerResponse } from 'node:http';
import pino from 'pino';
import { AppConfig } from '../config/app-config';
import { AppLogger } from './app-logger';
import { loggedPath, maskCapabilities, RequestLogging } from './request-log';

function setup(level = 'debug', logRequestContext = true) {
  const lines: Array<Record<string, unknown>> = [];
  const root = pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  const logging = new RequestLogging(root, { values: { logRequestContext } } as AppConfig);
  return { lines, logging, logger: new AppLogger(root, logging) };
}

function exchange(url: string, headers: Record<string, string> = {}) {
  const req = { method: 'GET', url, headers } as unknown as IncomingMessage & { id?: string };
  const sent: Record<string, unknown> = {};
  const res = { statusCode: 200, setHeader: (name: string, value: unknown) => (sent[name] = value) } as unknown as ServerResponse;
  return { req, res, sent };
}

describe('RequestLogging', () => {
  it('keeps a well-formed X-Request-Id, replaces any other with a UUID, and echoes the id', () => {
    const { logging } = setup();
    const given = exchange('/api/x', { 'x-request-id': 'lb-42.a_b' });
    expect(logging.start(given.req, given.res).id).toBe('lb-42.a_b');
    expect([given.req.id, given.sent['X-Request-Id']]).toEqual(['lb-42.a_b', 'lb-42.a_b']);
    const forged = exchange('/api/x', { 'x-request-id': 'has space\n' });
    const id = logging.start(forged.req, forged.res).id;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(forged.sent['X-Request-Id']).toBe(id);
  });

  it('stamps the request on lines logged while it is handled, and only then', () => {
    const { lines, logging, logger } = setup();
    const { req, res } = exchange('/api/chats?q=private');
    const log = logging.start(req, res);
    logging.run(log, () => logger.warn('inside', 'Chats'));
    logger.warn('outside', 'Chats');
    expect(lines).toEqual([
      expect.objectContaining({ msg: 'inside', context: 'Chats', req: { id: log.id, method: 'GET', url: '/api/chats' } }),
      expect.not.objectContaining({ req: expect.anything() }),
    ]);
  });

  it('keeps no request context at warn and above (a context costs every promise a hook on Node 20)', () => {
    const { lines, logging, logger } = setup('warn');
    const { req, res } = exchange('/api/chats');
    logging.run(logging.start(req, res), () => logger.warn('inside', 'Chats'));
    expect(logging.stampsLines).toBe(false);
    expect(lines).toEqual([expect.not.objectContaining({ req: expect.anything() })]);
  });

  it('keeps no request context when LOG_REQUEST_CONTEXT is off (the production default), whatever the level', () => {
    const { lines, logging, logger } = setup('debug', false);
    const { req, res } = exchange('/api/chats');
    const log = logging.start(req, res);
    logging.run(log, () => logger.warn('inside', 'Chats'));
    expect(logging.stampsLines).toBe(false);
    expect(logging.current()).toBeUndefined();
    expect(lines).toEqual([expect.not.objectContaining({ req: expect.anything() })]);
    // The access line still names the request.
    res.statusCode = 404;
    logging.finished(log, res, 1, true);
    expect(lines[1]).toMatchObject({ req: { id: log.id, url: '/api/chats' }, res: { statusCode: 404 } });
  });

  it('writes errors as err and merges an object first argument, as nestjs-pino did', () => {
    const { lines, logger } = setup();
    logger.error(new Error('boom'), undefined, 'HTTP');
    logger.error({ requestId: 'r1', url: '/x' }, 'Unhandled error', 'HTTP');
    expect(lines[0]).toMatchObject({ level: 50, context: 'HTTP', err: { message: 'boom', stack: expect.stringContaining('Error: boom') } });
    expect(lines[1]).toMatchObject({ level: 50, context: 'HTTP', requestId: 'r1', url: '/x', msg: 'Unhandled error' });
  });

  it('logs each answer at the level of its status, without the query, and never /health', () => {
    const { lines, logging } = setup();
    for (const [url, status] of [['/api/a?token=t', 200], ['/api/b', 404], ['/api/c', 500], ['/api/d', 503], ['/api/e', 502], ['/api/f', 501], ['/health', 500]] as const) {
      const { req, res } = exchange(url);
      const log = logging.start(req, res);
      res.statusCode = status;
      logging.finished(log, res, 1.4, true);
    }
    expect(lines.map((line) => [line.level, (line.req as { url: string }).url, (line.res as { statusCode: number }).statusCode, line.msg])).toEqual([
      [20, '/api/a', 200, 'request completed'],
      [30, '/api/b', 404, 'request completed'],
      [50, '/api/c', 500, 'request errored'],
      [40, '/api/d', 503, 'request errored'],
      [40, '/api/e', 502, 'request errored'],
      [50, '/api/f', 501, 'request errored'],
    ]);
  });

  it('writes nothing for an answer whose level is off, and says when a request was cut short', () => {
    const { lines, logging } = setup('info');
    const ok = exchange('/api/a');
    logging.finished(logging.start(ok.req, ok.res), ok.res, 1, true);
    const cut = exchange('/api/b');
    cut.res.statusCode = 400;
    logging.finished(logging.start(cut.req, cut.res), cut.res, 1, false);
    expect(lines.map((line) => line.msg)).toEqual(['request aborted']);
  });

  it('logs paths without their query and with their capabilities masked: invite codes and uploaded file names', () => {
    expect(loggedPath('/api/chats/join/M_ohL8sxDAJZ_te87QLRlQ?x=1')).toBe('/api/chats/join/:code');
    expect(loggedPath('/API/Chats/JOIN/M_ohL8sxDAJZ_te87QLRlQ/')).toBe('/API/Chats/JOIN/:code/');
    for (const dir of ['', 'medium/', 'thumbs/']) expect(loggedPath(`/uploads/${dir}OP7lAR3UcC66AQ1lmGqEzw.png`)).toBe(`/uploads/${dir}:name`);
    expect(loggedPath('/api/chats/3f0c2a4e-8b1d-4c7e-9a2f-1b2c3d4e5f60/invite')).toBe('/api/chats/3f0c2a4e-8b1d-4c7e-9a2f-1b2c3d4e5f60/invite');
    expect(loggedPath('/api/users/me?token=abc')).toBe('/api/users/me');
  });

  it('masks the capabilities a free text quotes (an error message, a stack), and keeps the rest, stack frames included', () => {
    const name = 'OP7lAR3UcC66AQ1lmGqEzw.png';
    const message = `ENOTDIR: not a directory, rename '/data/uploads/.tmp/put-ab12' -> '/data/uploads/thumbs/${name}'`;
    expect(maskCapabilities(message)).toBe("ENOTDIR: not a directory, rename '/data/uploads/:name/put-ab12' -> '/data/uploads/thumbs/:name'");
    expect(maskCapabilities(`fetch https://h2v.example/uploads/${name}?x=1 and /uploads/medium/${name}, "/API/chats/join/M_ohL8sxDAJZ_te87QLRlQ" failed`)).toBe(
      'fetch https://h2v.example/uploads/:name?x=1 and /uploads/medium/:name, "/API/chats/join/:code" failed',
    );
    const frames = '    at LocalDirectoryStorage.size (/app/dist/src/uploads/storage/local-directory.storage.js:61:26)\n    at /app/dist/src/uploads/uploads.service.js:305:11';
    expect(maskCapabilities(`Error: stat '/data/uploads/thumbs/${name}'\n${frames}`)).toBe(`Error: stat '/data/uploads/thumbs/:name'\n${frames}`);
    const plain = 'ENOSPC: write into UPLOAD_DIR/.tmp (POST /api/upload, /api/chats/join)';
    expect(maskCapabilities(plain)).toBe(plain);
  });
});
