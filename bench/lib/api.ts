/** Minimal JSON client for the server under test (fixtures and route probes, not load). */
export interface ApiResponse<T = any> {
  status: number;
  data: T;
  code?: string;
  message?: string;
}

export async function api<T = any>(base: string, method: string, path: string, token?: string, body?: unknown): Promise<ApiResponse<T>> {
  const response = await fetch(base + path, {
    method,
    headers: { ...(token ? { Authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await response.text();
  let parsed: { data?: T; code?: string; message?: string } = {};
  try {
    parsed = JSON.parse(text);
  } catch {
    // non-JSON body (e.g. a plain 404 page)
  }
  return { status: response.status, data: parsed.data as T, code: parsed.code, message: parsed.message };
}

/** Thrown when a route the scenario needs is not served (404): the scenario reports it as skipped. */
export class RouteMissing extends Error {
  constructor(readonly route: string) {
    super(`skipped: route missing (${route})`);
  }
}

/** Fails with a readable reason unless the call succeeded; a 404 means the route does not exist yet. */
export function expectOk<T>(response: ApiResponse<T>, route: string): T {
  // An unrouted path answers the generic NOT_FOUND; a feature's own 404 carries its own code.
  if (response.status === 404 && (!response.code || response.code === 'NOT_FOUND')) throw new RouteMissing(route);
  if (response.status >= 300) throw new Error(`${route} answered ${response.status} ${response.code ?? ''} ${response.message ?? ''}`.trim());
  return response.data;
}
