import autocannon from 'autocannon';
import { serve } from '../lib/child';
import { encodeHistogram, newHistogram } from '../lib/histogram';

/**
 * HTTP load generator (autocannon, programmatic), a child process of bench/run. Each response's
 * latency also goes into our own HDR histogram so HTTP and WebSocket figures use the same
 * percentiles (autocannon's own summary has no p95).
 */

export interface HttpJob {
  url: string;
  headers?: Record<string, string>;
  connections: number;
  seconds: number;
  /** Fixed total request rate (open loop); unset = as fast as the connections go. */
  rate?: number;
}

export interface HttpResult {
  requests: number;
  rps: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  histogram: string;
}

async function run(job: HttpJob): Promise<HttpResult> {
  const histogram = newHistogram();
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon(
      { url: job.url, headers: job.headers, connections: job.connections, duration: job.seconds, overallRate: job.rate, timeout: 10 },
      (error, done) => (error ? reject(error) : resolve(done)),
    );
    instance.on('response', (_client, _status, _bytes, responseTime) => {
      histogram.recordValue(Math.max(1, Math.round(responseTime * 1000)));
    });
  });
  return {
    requests: result.requests.total,
    rps: Math.round(result.requests.total / job.seconds),
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    histogram: encodeHistogram(histogram),
  };
}

serve({ run });
