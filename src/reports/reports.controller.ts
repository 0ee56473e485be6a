import { Body, Controller, Post } from '@nestjs/common';
import { ApiCookieAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Auth, AuthContext } from '../auth/auth-context';
import { ApiEnvelope, ApiErrors } from '../core/http/api-docs';
import { CreateReportDto, ReportCreatedDto } from './dto/report.dto';
import { ReportsService } from './reports.service';

@ApiTags('reports')
@ApiCookieAuth()
@Controller('api/reports')
export class ReportsController {
  constructor(private readonly reports: ReportsService) {}

  @Post()
  @ApiOperation({
    summary:
      'Report a user, a message of one of your chats or one of your chats; at most RATE_LIMIT_REPORTS (20 an hour); the same report again within 24 hours answers the id of the first',
  })
  @ApiEnvelope(ReportCreatedDto, { status: 201 })
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'CANNOT_TARGET_SELF', 'USER_NOT_FOUND', 'MESSAGE_NOT_FOUND', 'CHAT_NOT_FOUND', 'RATE_LIMIT')
  create(@Auth() auth: AuthContext, @Body() body: CreateReportDto): Promise<ReportCreatedDto> {
    return this.reports.create(auth.userId, body);
  }
}
