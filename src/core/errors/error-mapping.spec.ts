import { Logger } from '@nestjs/common';
import { toAppError } from './error-mapping';

describe('toAppError', () => {
  afterEach(() => jest.restoreAllMocks());

  it('answers an unreachable database SERVICE_UNAVAILABLE with a retry time, and logs why', () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const error = toAppError(Object.assign(new Error('Connection terminated due to connection timeout'), { code: 'ETIMEDOUT' }));
    expect(error).toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503, details: { retryAfter: 5 } });
    expect(String(warn.mock.calls[0]?.[0])).toContain('Connection terminated due to connection timeout');
  });
});
