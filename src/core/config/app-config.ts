import { Injectable } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { AppConfigValues } from './env.schema';

export const APP_CONFIG_KEY = 'app';

/** Typed, validated configuration. The only place that knows how the environment was read. */
@Injectable()
export class AppConfig {
  readonly values: AppConfigValues;

  constructor(config: ConfigService) {
    this.values = config.getOrThrow<AppConfigValues>(APP_CONFIG_KEY);
  }

  get isProduction(): boolean {
    return this.values.nodeEnv === 'production';
  }

  /** Redis is optional: without it every port runs its in-process adapter. */
  get usesRedis(): boolean {
    return this.values.redisUrl !== null;
  }
}
