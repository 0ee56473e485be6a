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

  it('still redacts a code anywhere else (an OTP in a body)', () => {
    expect(logged({ body: { email: 'a@example.com', code: '123456' } }).body.code).toBe('[redacted]');
  });
});
