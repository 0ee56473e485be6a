import { Module } from '@nestjs/common';
import { PresenceRepository } from './presence.repository';
import { PresenceService } from './presence.service';

/** Online/offline state and its fan-out; answers a socket's authentication with auth:ok and the snapshot. */
@Module({ providers: [PresenceRepository, PresenceService] })
export class PresenceModule {}
