import { DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule } from '@nestjs/config';
import { APP_CONFIG_KEY, AppConfig } from './app-config';
import { Env, parseEnv, requireWritableDirs } from './env.schema';

/**
 * Validates the environment given to it (process.env in production, a test's own map in e2e)
 * and exposes it as AppConfig. Several apps in one process each get their own configuration.
 */
@Global()
@Module({})
export class AppConfigModule {
  static forRoot(env: Env): DynamicModule {
    const values = parseEnv(env);
    requireWritableDirs(values);
    return {
      module: AppConfigModule,
      imports: [ConfigModule.forRoot({ ignoreEnvFile: true, cache: true, load: [() => ({ [APP_CONFIG_KEY]: values })] })],
      providers: [AppConfig],
      exports: [AppConfig],
    };
  }
}
