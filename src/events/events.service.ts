import { Injectable } from '@nestjs/common';
import { AppError } from '../core/errors';
import { EventLog } from '../realtime/event-log/event-log';
import { EVENTS_PAGE_DEFAULT, EventsPageDto } from './dto/events.dto';

/** The socket's catch-up over HTTP: a user's own logged events after a position. */
@Injectable()
export class EventsService {
  constructor(private readonly log: EventLog) {}

  async after(userId: string, after: number, limit = EVENTS_PAGE_DEFAULT): Promise<EventsPageDto> {
    const read = await this.log.read(userId, after, limit);
    if (!read) throw new AppError('SERVICE_UNAVAILABLE');
    if (read.kind === 'future') throw new AppError('INVALID_SEQ');
    if (read.kind === 'resync') throw new AppError('RESYNC_REQUIRED', undefined, { fromSeq: read.position });
    return {
      events: read.events.map(({ seq, body }) => {
        const { event, payload } = JSON.parse(body.toString()) as { event: string; payload: unknown };
        return { seq, event, payload };
      }),
      hasMore: read.hasMore,
    };
  }
}
