import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, TransformFnParams, Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { seqOfText } from '../../realtime/event-log/event-log';

export const EVENTS_PAGE_DEFAULT = 100;
export const EVENTS_PAGE_MAX = 500;

/** `after` read as the socket reads `?lastSeq=` (seqOfText); anything else becomes NaN, which IsInt refuses. */
function seqOrNaN({ value }: TransformFnParams): number {
  return typeof value === 'string' ? (seqOfText(value) ?? NaN) : NaN;
}

export class EventsQueryDto {
  @ApiProperty({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER, description: 'the seq of the last event the device has (auth:ok `seq`, or the last event seen)' })
  @Transform(seqOrNaN)
  @IsInt()
  @Min(0)
  @Max(Number.MAX_SAFE_INTEGER)
  after: number;

  @ApiPropertyOptional({ minimum: 1, maximum: EVENTS_PAGE_MAX, default: EVENTS_PAGE_DEFAULT })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(EVENTS_PAGE_MAX)
  limit?: number;
}

export class LoggedEventDto {
  @ApiProperty({ description: "the event's position in the user's stream" }) seq: number;
  @ApiProperty({ description: 'the socket event name, e.g. message:new' }) event: string;
  @ApiProperty({ type: 'object', additionalProperties: true, description: 'the payload the socket event carried' }) payload: unknown;
}

export class EventsPageDto {
  @ApiProperty({ type: [LoggedEventDto], description: 'oldest first' }) events: LoggedEventDto[];
  @ApiProperty({ description: 'more events follow the last one: ask again with its seq' }) hasMore: boolean;
}
