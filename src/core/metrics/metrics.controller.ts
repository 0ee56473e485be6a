import { Controller, Get, Req, Res } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { AppConfig } from '../config/app-config';
import { AppError } from '../errors';
import { Public } from '../http/public.decorator';
import { bearerMatches } from './metrics-access';
import { Metrics } from './metrics';

/**
 * `GET /metrics` on the API port, only when METRICS_TOKEN is set, and only with
 * `Authorization: Bearer <METRICS_TOKEN>` (401 without it). Unset, the route answers 404 like
 * any unknown path. (METRICS_PORT serves the same text on a port of its own: MetricsServer.)
 */
@ApiExcludeController()
@Public()
@Controller()
export class MetricsController {
  constructor(
    private readonly metrics: Metrics,
    private readonly config: AppConfig,
  ) {}

  @Get('metrics')
  async scrape(@Req() req: Request, @Res() res: Response): Promise<void> {
    const token = this.config.values.metricsToken;
    if (!token) throw new AppError('NOT_FOUND');
    if (!bearerMatches(req.headers.authorization, token)) throw new AppError('UNAUTHORIZED');
    const text = await this.metrics.scrape();
    res.status(200).type(this.metrics.contentType).send(text);
  }
}
