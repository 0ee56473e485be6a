import { serve } from '../lib/child';
import { CutMode, TcpProxy } from '../lib/tcp-proxy';

/**
 * Proxy process of bench/faults: every byte between the app instances and PostgreSQL or Redis
 * goes through here, so it gets an event loop of its own — sharing one with the simulated
 * clients would delay every query by whatever the clients are busy with.
 */

const proxies = new Map<string, TcpProxy>();

serve({
  /** A proxy named `name` in front of the host and port of `url`; answers the same URL through it. */
  open: async (args: { name: string; url: string; defaultPort: number }) => {
    const { proxy, url } = await TcpProxy.forUrl(args.url, args.defaultPort);
    proxies.set(args.name, proxy);
    return url;
  },
  cut: async (args: { names: string[]; mode: CutMode }) => {
    await Promise.all(args.names.map((name) => proxies.get(name)!.cut(args.mode)));
    return true;
  },
  restore: async (args: { names: string[] }) => {
    await Promise.all(args.names.map((name) => proxies.get(name)!.restore()));
    return true;
  },
  close: async () => {
    await Promise.all([...proxies.values()].map((proxy) => proxy.close()));
    proxies.clear();
    return true;
  },
});
