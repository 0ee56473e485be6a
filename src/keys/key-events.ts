import { ApiProperty } from '@nestjs/swagger';

/** To the owner: fewer one-time prekeys are left than the server likes to keep; replenish. */
export class KeysLowEvent {
  @ApiProperty({ description: 'one-time prekeys left' }) count: number;
}

declare module '../realtime/client-events' {
  interface ClientEvents {
    'keys:low': KeysLowEvent;
  }
}
