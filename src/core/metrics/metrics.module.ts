import { Global, Module } from '@nestjs/common';
import { MetricsController } from './metrics.controller';
import { MetricsServer } from './metrics.server';
import { Metrics } from './metrics';

/** The metrics catalogue, available everywhere (the worker and fixture processes keep theirs unserved). */
@Global()
@Module({ providers: [Metrics], exports: [Metrics] })
export class MetricsModule {}

/** Serves the catalogue: `GET /metrics` on the API port with METRICS_TOKEN, or on METRICS_PORT. */
@Module({ controllers: [MetricsController], providers: [MetricsServer] })
export class MetricsEndpointModule {}
