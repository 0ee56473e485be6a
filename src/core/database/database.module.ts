import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource, DataSourceOptions } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { DatabaseMetrics } from './database-metrics';
import { dataSourceOptions } from './data-source';
import { EmbeddedDurabilityNotice } from './embedded-durability';
import { EmbeddedVacuum } from './embedded-vacuum';
import { runPendingMigrations } from './migration-lock';

/**
 * TypeORM over PostgreSQL or embedded PGlite; pending migrations run before the app serves,
 * under an advisory lock so that instances starting together do not race for the schema.
 */
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      inject: [AppConfig],
      useFactory: (config: AppConfig) => ({
        ...dataSourceOptions(config.values, { entities: [] }),
        autoLoadEntities: true,
      }),
      dataSourceFactory: async (options) => {
        const dataSource = await new DataSource(options as DataSourceOptions).initialize();
        try {
          await runPendingMigrations(dataSource);
        } catch (error) {
          await dataSource.destroy(); // TypeOrmModule retries with a new data source; free this one's pool
          throw error;
        }
        return dataSource;
      },
    }),
  ],
  providers: [DatabaseMetrics, EmbeddedVacuum, EmbeddedDurabilityNotice],
})
export class DatabaseModule {}
