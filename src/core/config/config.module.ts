import { DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { APP_CONFIG_KEY, AppConfig } from './app-config';
import { AppConfigValues, Env, parseEnv, requireWritableDirs } from './env.schema';

/**
 * Validates an environment (process.env in production, a test's own map in e2e) and the
 * directories it names; throws ConfigError naming every problem.
 */
export function readConfig(env: Env): AppConfigValues {
  const values = parseEnv(env);
  requireWritableDirs(values);
  return values;
}

/** Exposes a configuration read by readConfig as AppConfig. Several apps in one process each get their own. */
@Global()
@Module({})
export class AppConfigModule {
  static forRoot(values: AppConfigValues): DynamicModule {
    return {
      module: AppConfigModule,
      imports: [ConfigModule.forRoot({ ignoreEnvFile: true, cache: true, load: [() => ({ [APP_CONFIG_KEY]: values })] })],
      providers: [AppConfig],
      exports: [AppConfig],
    };
  }
}
