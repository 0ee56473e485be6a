import { Controller, Get, Param, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { pipeline } from 'node:stream/promises';
import { AppError } from '../core/errors';
import { Public } from '../core/http/public.decorator';
import { FileStorage } from './storage/file-storage';
import { MEDIUM, THUMBS, VariantArea } from './upload-names';
import { StoredFile, UploadsService } from './uploads.service';

/** Stored names never change content meaning, so final files are cached for a year. */
const IMMUTABLE = 'public, max-age=31536000, immutable';
/** An original standing in for a variant that is seconds away: revalidate every time. */
const STAND_IN = 'public, no-cache';

/**
 * Public file URLs: `/uploads/<name>`, `/uploads/medium/<name>`, `/uploads/thumbs/<name>`.
 * Outside /api (not rate-limited) and without a session, as the clients load them in <img>.
 * Only names of the stored-name grammar reach storage; anything else is 404 NOT_FOUND.
 */
@Public()
@ApiExcludeController()
@Controller('uploads')
export class UploadedFilesController {
  constructor(
    private readonly uploads: UploadsService,
    private readonly storage: FileStorage,
  ) {}

  @Get(':name')
  original(@Param('name') name: string, @Req() request: Request, @Res() response: Response): Promise<void> {
    return this.serve('original', name, request, response);
  }

  @Get(`${MEDIUM}/:name`)
  medium(@Param('name') name: string, @Req() request: Request, @Res() response: Response): Promise<void> {
    return this.serve(MEDIUM, name, request, response);
  }

  @Get(`${THUMBS}/:name`)
  thumb(@Param('name') name: string, @Req() request: Request, @Res() response: Response): Promise<void> {
    return this.serve(THUMBS, name, request, response);
  }

  private async serve(area: 'original' | VariantArea, name: string, request: Request, response: Response): Promise<void> {
    const file = await this.uploads.locate(area, name);
    if (!file) throw new AppError('NOT_FOUND');
    await this.send(file, request, response, {
      'Content-Type': file.contentType,
      'X-Content-Type-Options': 'nosniff',
      'Cache-Control': file.final ? IMMUTABLE : STAND_IN,
      'Accept-Ranges': 'bytes',
      'Content-Disposition': file.kind === 'FILE' ? 'attachment' : 'inline',
      // Scripts in a served file (a PDF, a text file) must never run with this origin's rights.
      'Content-Security-Policy': "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'; sandbox",
    });
  }

  /**
   * Whole file, or one byte range (206) for seeking in audio and video; 416 for a range past the
   * end. The stream is opened before any header is set, so a file removed meanwhile is a clean 404.
   */
  private async send(file: StoredFile, request: Request, response: Response, headers: Record<string, string>): Promise<void> {
    // Only byte ranges are served (the unit is case-insensitive); a Range in another unit is ignored, satisfiable or not.
    const header = request.headers.range;
    const bytesRange = header !== undefined && /^\s*bytes\s*=/i.test(header);
    const ranges = bytesRange ? request.range(file.size, { combine: true }) : undefined;
    // A suffix longer than the file selects all of it (RFC 9110 §14.1.2): range-parser calls it unsatisfiable.
    const wholeSuffix = ranges === -1 && file.size > 0 && /^\s*bytes\s*=\s*-\d+\s*$/i.test(header!) && !/^\s*bytes\s*=\s*-0+\s*$/i.test(header!);
    if (ranges === -1 && !wholeSuffix) {
      response.status(416).set({ ...headers, 'Content-Range': `bytes */${file.size}` }).end();
      return;
    }
    // A malformed, multi-part or other-unit range is answered with the whole file, as RFC 9110 allows.
    const range = wholeSuffix ? { start: 0, end: file.size - 1 } : Array.isArray(ranges) && ranges.length === 1 ? ranges[0] : undefined;
    const length = range ? range.end - range.start + 1 : file.size;
    const stream = request.method === 'HEAD' || file.size === 0 ? null : await this.storage.stream(file.key, range).catch(() => null);
    if (!stream && request.method !== 'HEAD' && file.size > 0) throw new AppError('NOT_FOUND');
    response.set({ ...headers, 'Content-Length': String(length) });
    if (range) response.status(206).set('Content-Range', `bytes ${range.start}-${range.end}/${file.size}`);
    if (!stream) {
      response.end();
      return;
    }
    // A client that hangs up mid-file is not an error of ours.
    await pipeline(stream, response).catch(() => undefined);
  }
}
