import { Logger } from '@nestjs/common';
import { OUTAGE_LOG_INTERVAL_MS, OutageCauses } from './outage-log';

describe('OutageCauses', () => {
  it("logs an outage's cause when it first happens and when it changes, then at most once a minute while it lasts", () => {
    const logger = new Logger('Database');
    const warn = jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
    const causes = new OutageCauses(logger);
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    const tooMany = { message: 'query failed', driverError: { code: '53300', message: 'sorry, too many clients already' } };

    causes.noted(refused, 0);
    causes.noted(refused, 1_000);
    causes.noted(refused, OUTAGE_LOG_INTERVAL_MS - 1);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(warn).toHaveBeenLastCalledWith('database unavailable, answering SERVICE_UNAVAILABLE: ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:5432');

    causes.noted(tooMany, OUTAGE_LOG_INTERVAL_MS);
    expect(warn).toHaveBeenLastCalledWith('database unavailable, answering SERVICE_UNAVAILABLE: 53300: sorry, too many clients already');
    causes.noted(tooMany, 2 * OUTAGE_LOG_INTERVAL_MS);
    expect(warn).toHaveBeenCalledTimes(3);
  });

  it('logs two causes that alternate (a connect timeout and a full pool) once each a minute, not once a request', () => {
    const logger = new Logger('Database');
    const warn = jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
    const causes = new OutageCauses(logger);
    const timedOut = new Error('Connection terminated due to connection timeout');
    const poolFull = new Error('timeout exceeded when trying to connect');
    for (let i = 0; i < 100; i++) causes.noted(i % 2 ? timedOut : poolFull, i * 100);
    expect(warn).toHaveBeenCalledTimes(2);
    causes.noted(timedOut, OUTAGE_LOG_INTERVAL_MS + 100);
    expect(warn).toHaveBeenCalledTimes(3);
  });
});
