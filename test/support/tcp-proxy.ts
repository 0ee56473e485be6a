import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** A loopback TCP proxy a test can cut, to make a real service unreachable for one app. */
export class TcpProxy {
  private server!: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private refusal: { containing: Buffer; until: number } | null = null;
  port = 0;

  constructor(private readonly target: { host: string; port: number }) {}

  async start(): Promise<this> {
    await this.listen(0);
    return this;
  }

  /** Drops every connection and refuses new ones. */
  async cut(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Stops for good (a no-op when cut). */
  async close(): Promise<void> {
    if (this.server.listening) await this.cut();
  }

  /**
   * Accepts connections again on the same port, as a service that comes back. With `refusing`,
   * a connection whose first bytes hold `containing` (a Redis connection's name: clients speak
   * first) is still dropped for `forMs`: that one of an app's connections comes back later.
   */
  async restore(refusing?: { containing: string; forMs: number }): Promise<void> {
    this.refusal = refusing ? { containing: Buffer.from(refusing.containing), until: Date.now() + refusing.forMs } : null;
    await this.listen(this.port);
  }

  private async listen(port: number): Promise<void> {
    this.server = net.createServer((client) => {
      this.track(client);
      const refusal = this.refusal;
      if (!refusal || Date.now() >= refusal.until) return this.forward(client);
      client.once('data', (first) => (first.includes(refusal.containing) ? client.destroy() : this.forward(client, first)));
    });
    await new Promise<void>((resolve) => this.server.listen(port, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
  }

  private forward(client: net.Socket, first?: Buffer): void {
    const upstream = this.track(net.connect(this.target.port, this.target.host));
    if (first) upstream.write(first);
    client.pipe(upstream).pipe(client);
  }

  private track(socket: net.Socket): net.Socket {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    return socket;
  }
}
