import type { Request, Response } from 'express';
import { Metrics } from './metrics';

/**
 * Counts an answered request by method, route template (`/api/chats/:id`, never the raw path, so
 * ids do not become series) and status, and observes its latency; called by the HTTP pipeline
 * once the answer is sent. A request answered before routing (a refused origin, a bad body) has
 * no template: `unrouted`.
 */
export function recordHttpRequest(metrics: Metrics, req: Request, res: Response, seconds: number): void {
  const route = (req.route as { path?: string } | undefined)?.path ?? 'unrouted';
  metrics.httpRequests.inc({ method: req.method, route, status: res.statusCode });
  metrics.httpDuration.observe({ method: req.method, route }, seconds);
}
