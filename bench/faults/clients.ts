import { serve } from '../lib/child';
import { Device, DeviceReport, Ledger, SentRecord } from './device';

/**
 * Clients process of bench/faults: the simulated devices of a run (bench/faults/device.ts) live
 * here, away from the proxies and from the reader whose HTTP timings the main process takes.
 */

export interface DeviceSpec {
  key: string;
  userId: string;
  token: string;
  home: number;
  /** Chats this device writes into, in turn; none for a device that only receives. */
  writesTo: string[];
}

let ledger: Ledger = new Map();
let devices: Device[] = [];
const specs = new Map<string, DeviceSpec>();
let generators: NodeJS.Timeout[] = [];

serve({
  /** Opens every device's first socket; resolves once all have their auth:ok. */
  open: async (args: { urls: string[]; mark: string; ackTimeoutMs: number; devices: DeviceSpec[] }) => {
    ledger = new Map();
    specs.clear();
    devices = args.devices.map((spec) => {
      specs.set(spec.key, spec);
      return new Device({ key: spec.key, userId: spec.userId, token: spec.token, urls: args.urls, home: spec.home, ledger, mark: args.mark, ackTimeoutMs: args.ackTimeoutMs });
    });
    await Promise.all(devices.map((d) => d.start()));
    return devices.length;
  },
  /** Each writing device creates `perDevice` messages a second, into its chats in turn. */
  send: async (args: { perDevice: number }) => {
    generators = devices
      .filter((d) => specs.get(d.key)!.writesTo.length)
      .map((d) => {
        const chats = specs.get(d.key)!.writesTo;
        let n = 0;
        return setInterval(() => d.create(chats[n++ % chats.length]), 1000 / args.perDevice);
      });
    return true;
  },
  stopSending: async () => {
    generators.forEach(clearInterval);
    generators = [];
    return true;
  },
  /** Waits until every message is answered or `timeoutMs` passes; resolves the seconds waited. */
  settle: async (args: { timeoutMs: number }) => {
    const started = Date.now();
    while (Date.now() - started < args.timeoutMs && devices.some((d) => d.pending > 0)) await new Promise((resolve) => setTimeout(resolve, 200));
    return (Date.now() - started) / 1000;
  },
  /** Closes every socket; hands back what each device saw and the fate of every message. */
  finish: async (): Promise<{ records: SentRecord[]; devices: DeviceReport[] }> => {
    await Promise.all(devices.map((d) => d.stop()));
    const result = { records: [...ledger.values()], devices: devices.map((d) => d.report()) };
    devices = [];
    return result;
  },
});
