import { Controller, Get, Query } from '@nestjs/common';
import { ApiCookieAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Auth, AuthContext } from '../auth/auth-context';
import { ApiEnvelope, ApiErrors } from '../core/http/api-docs';
import { EventsPageDto, EventsQueryDto } from './dto/events.dto';
import { EventsService } from './events.service';

@ApiTags('events')
@Controller('api/events')
export class EventsController {
  constructor(private readonly events: EventsService) {}

  @Get()
  @ApiCookieAuth()
  @ApiOperation({
    summary:
      "The caller's events after a seq, oldest first, as the socket would have sent them (a mobile client woken by a push, before it opens a socket). " +
      '410 RESYNC_REQUIRED (with fromSeq, the current position) when `after` is older than the event log holds: reload state; 422 INVALID_SEQ when it is not a position of the caller',
  })
  @ApiEnvelope(EventsPageDto)
  @ApiErrors('UNAUTHORIZED', 'VALIDATION_ERROR', 'INVALID_SEQ', 'RESYNC_REQUIRED', 'SERVICE_UNAVAILABLE')
  list(@Auth() auth: AuthContext, @Query() query: EventsQueryDto): Promise<EventsPageDto> {
    return this.events.after(auth.userId, query.after, query.limit);
  }
}
