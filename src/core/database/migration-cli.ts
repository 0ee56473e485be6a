/* Runs or reverts migrations against the configured database: `node dist/src/core/database/migration-cli.js run|revert|show`. */
import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { loadDotEnv } from '../config/dot-env';
import { parseEnv } from '../config/env.schema';
import { dataSourceOptions } from './data-source';
import { revertLastMigration, runPendingMigrations } from './migration-lock';

async function main(command: string | undefined): Promise<void> {
  loadDotEnv();
  const dataSource = new DataSource(dataSourceOptions(parseEnv(process.env)));
  await dataSource.initialize();
  try {
    if (command === 'run') {
      const applied = await runPendingMigrations(dataSource);
      console.log(applied.length ? `Applied: ${applied.map((m) => m.name).join(', ')}` : 'No pending migrations');
    } else if (command === 'revert') {
      await revertLastMigration(dataSource);
      console.log('Reverted the last migration');
    } else if (command === 'show') {
      console.log((await dataSource.showMigrations()) ? 'There are pending migrations' : 'Up to date');
    } else {
      throw new Error('usage: migration-cli run|revert|show');
    }
  } finally {
    await dataSource.destroy();
  }
}

main(process.argv[2]).catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
