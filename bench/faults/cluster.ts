import { Child } from '../lib/child';
import { ServerProcess } from '../lib/server';
import { CutMode } from '../lib/tcp-proxy';

/** A warning or error line an instance logged (pino JSON, LOG_LEVEL=warn). */
export interface LogLine {
  at: number;
  instance: string;
  level: number;
  msg: string;
}

interface Instance {
  name: string;
  port: number;
  env: Record<string, string>;
  server: ServerProcess;
}

/**
 * Two app instances on one database and one Redis, each reaching them through proxies of its own
 * (in the proxy process, bench/faults/proxies.ts), so a fault can cut the services off (for
 * every instance at once, as an outage does) or kill one instance and start it again on the
 * same port.
 */
export class Cluster {
  /** Warning and error lines of every instance since the last `takeLogs()`. */
  private logs: LogLine[] = [];

  private constructor(
    private readonly instances: Instance[],
    private readonly proxies: Child,
  ) {}

  static async start(count: number, port: () => Promise<number>, services: { databaseUrl: string; redisUrl: string }, env: Record<string, string>): Promise<Cluster> {
    const instances: Instance[] = [];
    const cluster = new Cluster(instances, Child.start('faults/proxies'));
    try {
      // One after the other: the first runs the migrations before the second starts.
      for (let i = 0; i < count; i++) {
        const name = `app-${String.fromCharCode(97 + i)}`;
        const databaseUrl = await cluster.proxies.request<string>('open', { name: `${name}:postgres`, url: services.databaseUrl, defaultPort: 5432 });
        const redisUrl = await cluster.proxies.request<string>('open', { name: `${name}:redis`, url: services.redisUrl, defaultPort: 6379 });
        const instanceEnv = { ...env, DATABASE_URL: databaseUrl, REDIS_URL: redisUrl };
        const instance: Instance = { name, port: await port(), env: instanceEnv, server: null! };
        instances.push(instance);
        instance.server = await ServerProcess.app(name, instance.port, instanceEnv);
        cluster.watch(instance);
      }
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  get wsUrls(): string[] {
    return this.instances.map((i) => i.server.wsUrl);
  }

  get httpUrls(): string[] {
    return this.instances.map((i) => i.server.url);
  }

  names(): string[] {
    return this.instances.map((i) => i.name);
  }

  async cut(service: 'redis' | 'postgres', mode: CutMode): Promise<void> {
    await this.proxies.request('cut', { names: this.instances.map((i) => `${i.name}:${service}`), mode });
  }

  async restore(service: 'redis' | 'postgres'): Promise<void> {
    await this.proxies.request('restore', { names: this.instances.map((i) => `${i.name}:${service}`) });
  }

  /** kill -9 of one instance: its sockets are reset, nothing of its shutdown runs. */
  async kill(index: number): Promise<void> {
    await this.instances[index].server.kill();
  }

  /** Starts a killed instance again on its port; resolves once it answers /health. */
  async restart(index: number): Promise<void> {
    const instance = this.instances[index];
    instance.server = await ServerProcess.app(instance.name, instance.port, instance.env);
    this.watch(instance);
  }

  /** Both instances answer /health, and /api/health says the database and Redis are reachable. */
  async ready(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      const states = await Promise.all(
        this.instances.map(async (i) => {
          try {
            const response = await fetch(`${i.server.url}/api/health`, { signal: AbortSignal.timeout(3_000) });
            return response.ok ? null : `${i.name}: ${response.status} ${await response.text()}`;
          } catch (error) {
            return `${i.name}: ${(error as Error).message}`;
          }
        }),
      );
      last = states.filter(Boolean).join('; ');
      if (!last) return;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    throw new Error(`instances not ready within ${timeoutMs} ms: ${last}`);
  }

  takeLogs(): LogLine[] {
    return this.logs.splice(0);
  }

  async stop(): Promise<void> {
    await Promise.all(this.instances.map((i) => i.server?.stop()));
    await this.proxies.request('close').catch(() => undefined);
    await this.proxies.stop();
  }

  private watch(instance: Instance): void {
    let partial = '';
    instance.server.onOutput((text) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        try {
          const parsed = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
          if ((parsed.level ?? 0) >= 40) this.logs.push({ at: Date.now(), instance: instance.name, level: parsed.level!, msg: [parsed.msg, parsed.err?.message].filter(Boolean).join(': ') });
        } catch {
          this.logs.push({ at: Date.now(), instance: instance.name, level: 50, msg: line.slice(0, 300) });
        }
      }
    });
  }
}
