import { Injectable, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import type { Pool, PoolClient } from 'pg';
import { DataSource } from 'typeorm';
import { Metrics } from '../metrics/metrics';

type Connect = (callback?: (error: Error | undefined, client: PoolClient | undefined, release: () => void) => void) => Promise<PoolClient> | void;

/**
 * The PostgreSQL pool in the metrics: connections open, idle and waited for (read on each
 * scrape), and how long each checkout waited. Embedded PGlite has no pool: nothing to report.
 */
@Injectable()
export class DatabaseMetrics implements OnModuleInit {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly metrics: Metrics,
  ) {}

  onModuleInit(): void {
    const pool = (this.dataSource.driver as { master?: Pool }).master;
    if (!pool || typeof pool.connect !== 'function' || typeof pool.waitingCount !== 'number') return;
    const { metrics } = this;
    metrics.addCollector(() => {
      metrics.dbPool.set({ state: 'total' }, pool.totalCount);
      metrics.dbPool.set({ state: 'idle' }, pool.idleCount);
      metrics.dbPool.set({ state: 'waiting' }, pool.waitingCount);
    });
    // TypeORM checks out with a callback; pg's own helpers use the promise form.
    const connect = pool.connect.bind(pool) as Connect;
    (pool as unknown as { connect: Connect }).connect = (callback) => {
      const started = process.hrtime.bigint();
      const waited = () => metrics.dbPoolWait.observe(Number(process.hrtime.bigint() - started) / 1e9);
      if (!callback) {
        return (connect() as Promise<PoolClient>).then((client) => {
          waited();
          return client;
        });
      }
      return connect((error, client, release) => {
        waited();
        callback(error, client, release);
      });
    };
  }
}
