import pino from 'pino';
import { AppLogger } from './app-logger';
import { REDACTED_PATHS } from './root-logger';

/** An AppLogger over a root logger made as the process's is (redaction included), and the lines it wrote. */
function capture(): { logger: AppLogger; lines: Array<Record<string, any>> } {
  const lines: Array<Record<string, any>> = [];
  const root = pino({ redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { logger: new AppLogger(root), lines };
}

describe('AppLogger', () => {
  it('logs an Error (Nest start-up failures pass one) with its code as errorCode, not redacted, and the uploaded names it quotes masked', () => {
    const { logger, lines } = capture();
    logger.error(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }), 'ExceptionHandler');
    logger.error(Object.assign(new Error("ENOENT: no such file, open '/data/uploads/1a-sBBmIS3E_UymhOmXmCw.png'"), { code: 'ENOENT' }));
    expect(lines[0]).toMatchObject({ level: 50, context: 'ExceptionHandler', err: { type: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:5432', errorCode: 'ECONNREFUSED' } });
    expect(lines[1].err).toMatchObject({ message: "ENOENT: no such file, open '/data/uploads/:name'", errorCode: 'ENOENT' });
    expect(JSON.stringify(lines)).not.toMatch(/\[redacted\]|1a-sBBmIS3E_UymhOmXmCw/);
  });

  it("keeps the stack Nest's exception handlers pass beside a message, masked the same way", () => {
    const { logger, lines } = capture();
    logger.error('upload failed', "Error: upload failed\n    at store (/data/uploads/1a-sBBmIS3E_UymhOmXmCw.png)", 'Uploads');
    expect(lines[0]).toMatchObject({ context: 'Uploads', err: { message: 'upload failed', stack: expect.stringContaining('/uploads/:name') } });
  });
});
