import { existsSync } from 'node:fs';

/**
 * Outside production, a `.env` in the working directory fills what the environment does not set
 * (`.env.example` shows the keys). Every entry point reads it the same way: the server, the
 * worker and the migration commands, so that `npm run migration:run` migrates the database the
 * server uses and not an embedded one of its own.
 */
export function loadDotEnv(): void {
  if (existsSync('.env') && process.env.NODE_ENV !== 'production') process.loadEnvFile('.env');
}
