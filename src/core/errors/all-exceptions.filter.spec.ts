import pino from 'pino';
import { REDACTED_PATHS } from '../logging/root-logger';
import { loggable } from './all-exceptions.filter';

describe('loggable', () => {
  /** One line written as the root logger writes it: pino's serializers and the redaction. */
  function logged(fields: Record<string, unknown>): Record<string, any> {
    const lines: string[] = [];
    const logger = pino({ redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, { write: (line: string) => void lines.push(line) });
    logger.error(fields, 'failed');
    return JSON.parse(lines[0]);
  }

  it("keeps an error's type and its code (a SQLSTATE, an errno) through pino's error serializer and the redaction", () => {
    const error = Object.assign(new Error('deadlock detected'), { name: 'QueryFailedError', code: '40P01', query: 'SELECT 1', parameters: ['secret'] });
    const { err } = logged({ err: loggable(error) });
    expect(err).toMatchObject({ type: 'QueryFailedError', message: 'deadlock detected', errorCode: '40P01', query: 'SELECT 1', stack: expect.stringContaining('deadlock detected') });
    expect(JSON.stringify(err)).not.toContain('secret');
  });

  it("masks the uploaded file names an error's message and stack quote (a capability: whoever has it fetches the file)", () => {
    const error = Object.assign(new Error("ENOTDIR: not a directory, stat '/data/uploads/thumbs/1a-sBBmIS3E_UymhOmXmCw.png'"), { code: 'ENOTDIR' });
    const { err } = logged({ err: loggable(error) });
    expect(err).toMatchObject({ message: "ENOTDIR: not a directory, stat '/data/uploads/thumbs/:name'", errorCode: 'ENOTDIR', stack: expect.stringContaining('/uploads/thumbs/:name') });
    expect(JSON.stringify(logged({ err: loggable(error) }))).not.toContain('1a-sBBmIS3E_UymhOmXmCw');
    expect(loggable('see /uploads/1a-sBBmIS3E_UymhOmXmCw.png').message).toBe('see /uploads/:name');
  });

  it('still redacts a code anywhere else (an OTP in a body)', () => {
    expect(logged({ body: { email: 'a@example.com', code: '123456' } }).body.code).toBe('[redacted]');
  });
});
