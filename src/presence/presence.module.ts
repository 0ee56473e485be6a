import { Module } from '@nestjs/common';
import { PresenceRelations } from './presence-relations';
import { PresenceRepository } from './presence.repository';
import { PresenceService } from './presence.service';

/**
 * Online/offline state and its fan-out; answers a socket's authentication with auth:ok and the
 * snapshot. Features that change relations between users tell PresenceRelations.
 */
@Module({ providers: [PresenceRepository, PresenceService, PresenceRelations], exports: [PresenceRelations] })
export class PresenceModule {}
