import net from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * How a cut looks to the app. `refuse`: the service is gone (every connection is reset, new ones
 * are refused at once), as when Redis or PostgreSQL is stopped. `blackhole`: a network partition
 * (connections stay open and new ones are accepted, but no byte crosses until the cut ends, when
 * what was written meanwhile goes through), the case where only timeouts notice anything.
 */
export type CutMode = 'refuse' | 'blackhole';

interface Pair {
  client: net.Socket;
  upstream: net.Socket | null;
}

/**
 * A loopback TCP proxy in front of one service (the bench's own copy of test/support/tcp-proxy.ts,
 * which the bench build does not compile), so a fault run can cut one app instance off Redis or
 * PostgreSQL and restore it on the same port.
 */
export class TcpProxy {
  private server: net.Server | null = null;
  private readonly pairs = new Set<Pair>();
  private mode: CutMode | null = null;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  /** A proxy for the host and port of `url` (postgres://…, redis://…), and the same URL through it. */
  static async forUrl(url: string, defaultPort: number): Promise<{ proxy: TcpProxy; url: string }> {
    const parsed = new URL(url);
    const proxy = await new TcpProxy({ host: parsed.hostname || '127.0.0.1', port: Number(parsed.port || defaultPort) }).start();
    parsed.hostname = '127.0.0.1';
    parsed.port = String(proxy.port);
    return { proxy, url: parsed.toString() };
  }

  async start(): Promise<this> {
    await this.listen(0);
    return this;
  }

  get isCut(): boolean {
    return this.mode !== null;
  }

  async cut(mode: CutMode): Promise<void> {
    if (this.mode) return;
    this.mode = mode;
    if (mode === 'refuse') {
      for (const pair of this.pairs) this.destroy(pair);
      await this.closeServer();
      return;
    }
    for (const pair of this.pairs) {
      pair.client.unpipe();
      pair.upstream?.unpipe();
      pair.client.pause();
      pair.upstream?.pause();
    }
  }

  /** Ends the cut: listens again on the same port (refuse), or lets the held bytes through (blackhole). */
  async restore(): Promise<void> {
    const mode = this.mode;
    this.mode = null;
    if (mode === 'refuse') return this.listen(this.port);
    if (mode === 'blackhole') {
      for (const pair of this.pairs) {
        if (pair.upstream) this.join(pair);
        else this.connectUpstream(pair);
      }
    }
  }

  async close(): Promise<void> {
    for (const pair of this.pairs) this.destroy(pair);
    this.mode = null;
    await this.closeServer();
  }

  private listen(port: number): Promise<void> {
    const server = net.createServer((client) => {
      const pair: Pair = { client, upstream: null };
      this.pairs.add(pair);
      client.on('error', () => this.destroy(pair));
      client.on('close', () => this.destroy(pair));
      if (this.mode === 'blackhole') client.pause();
      else this.connectUpstream(pair);
    });
    this.server = server;
    return new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        this.port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private connectUpstream(pair: Pair): void {
    const upstream = net.connect(this.target.port, this.target.host);
    pair.upstream = upstream;
    upstream.on('error', () => this.destroy(pair));
    upstream.on('close', () => this.destroy(pair));
    this.join(pair);
  }

  private join(pair: Pair): void {
    pair.client.pipe(pair.upstream!);
    pair.upstream!.pipe(pair.client);
    pair.client.resume();
    pair.upstream!.resume();
  }

  private destroy(pair: Pair): void {
    if (!this.pairs.delete(pair)) return;
    pair.client.destroy();
    pair.upstream?.destroy();
  }

  private closeServer(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (!server?.listening) return Promise.resolve();
    return new Promise((resolve) => server.close(() => resolve()));
  }
}
