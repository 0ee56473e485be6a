import { CallHandler, ExecutionContext, Injectable, Logger, mixin, NestInterceptor, Type } from '@nestjs/common';
import type { RequestHandler, Response } from 'express';
import multer, { MulterError } from 'multer';
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Observable, catchError, mergeMap } from 'rxjs';
import type { AuthedRequest } from '../auth/auth-context';
import { AppConfig } from '../core/config/app-config';
import { AppError } from '../core/errors';
import { loggable } from '../core/errors/all-exceptions.filter';
import { validationError } from '../core/http/validation';
import { TEMP_DIR } from './upload-names';
import { UploadsService } from './uploads.service';

/** The multipart field that carries the file, as the API text names it. */
export const FILE_FIELD = 'file';

/** A file multer has streamed to the temp directory. */
export type ReceivedFile = Pick<Express.Multer.File, 'path' | 'originalname' | 'size'>;

/**
 * What a multipart body may carry besides its file (boundaries, part headers, small fields)
 * before its declared length alone shows that the file cannot fit the caller's daily room.
 */
const MULTIPART_ALLOWANCE = 64 * 1024;

/**
 * Streams the one `file` part of a multipart request to a temp file in UPLOAD_DIR (never the
 * whole file in memory) and removes it when the request ends, whatever happened: the service
 * moves the files it keeps, so whatever is still there afterwards is refused or partial. Over
 * `maxBytes`, multer stops writing, deletes the part and this answers 413 FILE_TOO_LARGE.
 * Runs after the guards, so an unauthenticated request is refused before a byte is stored; and
 * a body that cannot fit the caller's daily room (UPLOAD_DAILY_MB: none left, or a declared
 * length past it) is refused before it is received, not after it filled the temp directory
 * (the service checks the received size again).
 */
export function FileUpload(maxBytes: number): Type<NestInterceptor> {
  @Injectable()
  class FileUploadInterceptor implements NestInterceptor {
    private readonly receive: RequestHandler;

    constructor(
      config: AppConfig,
      private readonly uploads: UploadsService,
    ) {
      this.receive = multer({
        storage: multer.diskStorage({
          destination: join(config.values.uploadDir, TEMP_DIR),
          filename: (_req, _file, done) => done(null, `upload-${randomBytes(12).toString('hex')}`),
        }),
        limits: { fileSize: maxBytes, files: 1, fields: 20, parts: 25, fieldSize: 64 * 1024 },
        // Browsers send UTF-8 file names; busboy would read them as latin1.
        defParamCharset: 'utf8',
      }).single(FILE_FIELD);
    }

    async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
      const http = context.switchToHttp();
      const request = http.getRequest<AuthedRequest>();
      const declared = Number(request.headers['content-length'] ?? 0);
      await this.uploads.requireDailyRoom(request.auth!.userId, Math.max(1, Math.min(declared, maxBytes + MULTIPART_ALLOWANCE) - MULTIPART_ALLOWANCE));
      await new Promise<void>((resolve, reject) =>
        this.receive(request, http.getResponse<Response>(), (error?: unknown) => (error ? reject(uploadError(error, maxBytes)) : resolve())),
      );
      const file = request.file;
      // Removed before the answer goes out, so a refused upload has left nothing once the client hears of it.
      const cleanUp = async () => void (file && (await rm(file.path, { force: true }).catch(() => undefined)));
      return next.handle().pipe(
        mergeMap(async (result) => (await cleanUp(), result)),
        catchError(async (error) => {
          await cleanUp();
          throw error;
        }),
      );
    }
  }
  return mixin(FileUploadInterceptor);
}

/** How long a client is told to wait when the upload directory's disk is full. */
const STORAGE_FULL_RETRY_AFTER_SECONDS = 60;

const logger = new Logger('Uploads');

/**
 * What a failed receive answers. busboy's complaints about a malformed body are the client's
 * (400); the temp file's own failures are the server's: a full disk (or quota) is 503 with a
 * wait, logged, and any other (permissions, too many open files) goes on as it is, to be logged
 * and answered 500 like any fault: a 400 would tell the client its body was at fault, and tell
 * the operator nothing.
 */
export function uploadError(error: unknown, maxBytes: number): unknown {
  if (!(error instanceof MulterError)) {
    if (!(error instanceof Error) || error instanceof AppError) return error;
    if (!isSystemError(error)) return new AppError('BAD_REQUEST', 'Malformed multipart body');
    if (error.code !== 'ENOSPC' && error.code !== 'EDQUOT') return error;
    logger.error({ err: loggable(error) }, 'an upload could not be stored: the upload directory is full');
    return new AppError('SERVICE_UNAVAILABLE', 'Uploads cannot be stored right now; try again later', { retryAfter: STORAGE_FULL_RETRY_AFTER_SECONDS });
  }
  if (error.code === 'LIMIT_FILE_SIZE') return new AppError('FILE_TOO_LARGE', `Files may be at most ${maxBytes / (1024 * 1024)} MB`);
  if (error.code === 'LIMIT_UNEXPECTED_FILE' || error.code === 'LIMIT_FILE_COUNT') {
    return validationError({ [FILE_FIELD]: [`send exactly one file, in the multipart field "${FILE_FIELD}"`] });
  }
  return validationError({ body: [error.message] });
}

/** An error of the operating system (a file's write, open or rename), as Node reports one. */
function isSystemError(error: Error): error is NodeJS.ErrnoException & { code: string } {
  const e = error as NodeJS.ErrnoException;
  return typeof e.code === 'string' && (typeof e.syscall === 'string' || typeof e.errno === 'number');
}
