import { Controller, Get } from '@nestjs/common';
import { ApiOperation, ApiProperty, ApiTags } from '@nestjs/swagger';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { withTimeout } from '../async/with-timeout';
import { AppError } from '../errors';
import { ApiEnvelope, ApiErrors } from '../http/api-docs';
import { Public } from '../http/public.decorator';
import { RedisService } from '../redis/redis.service';
import { shuttingDown } from '../shutdown';

const CHECK_TIMEOUT_MS = 1500;

class LivenessDto {
  @ApiProperty({ example: 'ok' }) status: 'ok';
  @ApiProperty() timestamp: string;
}

class ReadinessDto {
  @ApiProperty({ enum: ['ok', 'error'] }) status: 'ok' | 'error';
  @ApiProperty() timestamp: string;
  @ApiProperty({ enum: ['ok', 'down'] }) db: 'ok' | 'down';
  @ApiProperty({ enum: ['ok', 'down', 'embedded'] }) redis: 'ok' | 'down' | 'embedded';
}

@ApiTags('health')
@Public()
@Controller()
export class HealthController {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly redis: RedisService,
  ) {}

  @Get('health')
  @ApiOperation({ summary: 'Liveness: answers while the process serves' })
  @ApiEnvelope(LivenessDto)
  liveness(): LivenessDto {
    return { status: 'ok', timestamp: new Date().toISOString() };
  }

  @Get('api/health')
  @ApiOperation({ summary: 'Readiness: checks the database and Redis for real; 503 when one is down or the instance is shutting down' })
  @ApiEnvelope(ReadinessDto)
  @ApiErrors('SERVICE_UNAVAILABLE')
  async readiness(): Promise<ReadinessDto> {
    // A balancer still probing takes the instance out of rotation while it finishes what it serves.
    if (shuttingDown()) throw new AppError('SERVICE_UNAVAILABLE', 'This instance is shutting down');
    const [db, redis] = await Promise.all([this.checkDatabase(), this.checkRedis()]);
    const healthy = db === 'ok' && redis !== 'down';
    const report: ReadinessDto = { status: healthy ? 'ok' : 'error', timestamp: new Date().toISOString(), db, redis };
    // A 503 keeps the envelope: {success:false, code:'SERVICE_UNAVAILABLE', message, data: report}.
    if (!healthy) throw new AppError('SERVICE_UNAVAILABLE', 'A dependency is down', { data: report });
    return report;
  }

  private checkDatabase(): Promise<'ok' | 'down'> {
    return withTimeout(this.dataSource.query('SELECT 1').then(() => 'ok' as const, () => 'down' as const), CHECK_TIMEOUT_MS, 'down' as const);
  }

  private async checkRedis(): Promise<'ok' | 'down' | 'embedded'> {
    if (!this.redis.enabled) return 'embedded';
    return (await this.redis.ping(CHECK_TIMEOUT_MS)) ? 'ok' : 'down';
  }
}
