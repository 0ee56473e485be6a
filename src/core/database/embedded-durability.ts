import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { AppConfig } from '../config/app-config';

export const EMBEDDED_DURABILITY_WARNING =
  'NODE_ENV=production on the embedded database (no DATABASE_URL): it survives a killed process, not a power loss or an OS crash (PGlite writes without fsync); keep data you care about in PostgreSQL';

/**
 * The embedded database is safe against the process dying (what it wrote is in the kernel's cache)
 * but not against the machine failing: PGlite writes through Node's file system without fsync, so
 * a power loss or kernel crash can lose acknowledged writes or corrupt the database. Right for
 * development and trials (README, "Two ways to run"); a production start on it says so in the log.
 */
@Injectable()
export class EmbeddedDurabilityNotice implements OnApplicationBootstrap {
  private readonly logger = new Logger('Database');

  constructor(private readonly config: AppConfig) {}

  onApplicationBootstrap(): void {
    if (this.config.isProduction && !this.config.values.databaseUrl) this.logger.warn(EMBEDDED_DURABILITY_WARNING);
  }
}
