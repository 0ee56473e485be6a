import { Controller, Get, Logger, Param, Query, Req, Res } from '@nestjs/common';
import { ApiCookieAuth, ApiExtraModels, ApiOperation, ApiProduces, ApiResponse, ApiTags, getSchemaPath } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { Auth, AuthContext } from '../auth/auth-context';
import { AppConfig } from '../core/config/app-config';
import { ApiErrors } from '../core/http/api-docs';
import { sendDownload } from '../core/http/download';
import { OriginPolicy } from '../core/http/origin-policy';
import { ExportFileDto, ExportQuery } from './dto/export.dto';
import { ExportService } from './export.service';

const FILE_RESPONSE = ApiResponse({
  status: 200,
  description:
    'The file itself, not the envelope, as an attachment named `h2v-export-<YYYY-MM-DD>.<html|json>`, streamed as it is read. ' +
    'Errors found before it starts are the usual envelope; a failure after that cuts the connection.',
  content: {
    'text/html': { schema: { type: 'string', description: 'a self-contained page; media are links to /uploads' } },
    'application/json': { schema: { $ref: getSchemaPath(ExportFileDto) } },
  },
});

/**
 * Data export (wire-contract-v2.2 §14). The web client opens it as a top-level navigation (a new
 * tab): the cookie comes without X-Requested-With, which a GET never needs. Registered before
 * ChatsController (ExportModule comes first), so `export/all` is never taken for a chat id.
 */
@ApiTags('chats')
@ApiCookieAuth()
@ApiExtraModels(ExportFileDto)
@Controller('api/chats')
export class ExportController {
  private readonly logger = new Logger('Export');
  private readonly origins: OriginPolicy;

  constructor(
    private readonly exports: ExportService,
    config: AppConfig,
  ) {
    this.origins = new OriginPolicy(config.values.corsOrigins, config.values.trustProxy);
  }

  @Get('export/all')
  @ApiOperation({
    summary:
      'Download all your chats except secret ones (archived chats and saved messages included), each with the messages you can see, oldest first ' +
      '(3 exports per hour, both export routes together)',
  })
  @ApiProduces('text/html', 'application/json')
  @FILE_RESPONSE
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'RATE_LIMIT')
  async all(@Auth() auth: AuthContext, @Query() query: ExportQuery, @Req() request: Request, @Res() response: Response): Promise<void> {
    const file = await this.exports.open(auth, { format: query.format, chatId: null, mediaOrigin: this.origins.ownOrigin(request) });
    await sendDownload(response, file, this.logger);
  }

  @Get(':id/export')
  @ApiOperation({ summary: 'Download one chat you are a member of, as the full export does (not secret chats; counts against the same limit)' })
  @ApiProduces('text/html', 'application/json')
  @FILE_RESPONSE
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'CHAT_NOT_FOUND', 'SECRET_CHAT_RESTRICTED', 'RATE_LIMIT')
  async one(@Auth() auth: AuthContext, @Param('id') id: string, @Query() query: ExportQuery, @Req() request: Request, @Res() response: Response): Promise<void> {
    const file = await this.exports.open(auth, { format: query.format, chatId: id, mediaOrigin: this.origins.ownOrigin(request) });
    await sendDownload(response, file, this.logger);
  }
}
