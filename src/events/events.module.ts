import { Module } from '@nestjs/common';
import { EventsController } from './events.controller';
import { EventsService } from './events.service';

/** `GET /api/events`: each user's event log (realtime's EventLog) over HTTP. */
@Module({
  controllers: [EventsController],
  providers: [EventsService],
})
export class EventsModule {}
