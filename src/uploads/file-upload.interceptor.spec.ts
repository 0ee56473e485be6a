import { Logger } from '@nestjs/common';
import { MulterError } from 'multer';
import { AppError } from '../core/errors';
import { uploadError } from './file-upload.interceptor';

describe('uploadError', () => {
  afterEach(() => jest.restoreAllMocks());
  const MB = 1024 * 1024;
  const systemError = (code: string, syscall = 'write') => Object.assign(new Error(`${code}: failed, ${syscall}`), { code, syscall, errno: -28 });

  it("answers busboy's complaints about the body 400, and multer's limits as before", () => {
    expect(uploadError(new Error('Unexpected end of form'), MB)).toMatchObject({ code: 'BAD_REQUEST', status: 400 });
    expect(uploadError(new MulterError('LIMIT_FILE_SIZE'), MB)).toMatchObject({ code: 'FILE_TOO_LARGE' });
  });

  it('answers a full disk 503 with a wait, logged, not a 400 blaming the client', () => {
    const logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
    for (const code of ['ENOSPC', 'EDQUOT']) {
      const answer = uploadError(systemError(code), MB) as AppError;
      expect(answer).toMatchObject({ code: 'SERVICE_UNAVAILABLE', status: 503, details: { retryAfter: 60 } });
    }
    expect(logged).toHaveBeenCalledTimes(2);
  });

  it("lets any other failure of the temp file through as the server's fault (logged and answered 500 by the filter)", () => {
    for (const error of [systemError('EACCES', 'open'), systemError('EMFILE', 'open'), systemError('ENOTDIR', 'open')]) expect(uploadError(error, MB)).toBe(error);
  });
});
