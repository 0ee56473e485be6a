import { createServer } from 'node:net';
import { Child } from './child';
import { Row } from './report';
import { ServerProcess } from './server';
import { Sql } from './services';

/** How long and how big each scenario runs; `--quick` shrinks everything to a smoke run. */
export interface Settings {
  quick: boolean;
  /** Measured seconds of each WebSocket phase and of each HTTP run. */
  seconds: number;
  warmupSeconds: number;
  /** Open-loop rates of scenario 1 (messages/s, all pairs together). */
  rates: number[];
  pairs: number;
  /** Messages each pair (or group sender) keeps in flight in the closed loop. */
  window: number;
  groupSize: number;
  groupSenders: number;
  idleSockets: number;
  searchUsers: number;
  historyMessages: number;
  listChats: number;
  httpConnections: number;
}

export function settingsFor(quick: boolean): Settings {
  return quick
    ? { quick, seconds: 3, warmupSeconds: 1, rates: [250, 1000], pairs: 50, window: 4, groupSize: 200, groupSenders: 10, idleSockets: 2_000, searchUsers: 100_000, historyMessages: 100_000, listChats: 200, httpConnections: 50 }
    : { quick, seconds: 15, warmupSeconds: 3, rates: [250, 500, 1000, 2000], pairs: 200, window: 4, groupSize: 200, groupSenders: 10, idleSockets: 20_000, searchUsers: 100_000, historyMessages: 100_000, listChats: 200, httpConnections: 50 };
}

/** Everything a scenario may use, set up once by run.ts. */
export interface Bench {
  settings: Settings;
  /** The benchmark's scratch database (and Redis prefix): `bench_<ms>`. */
  database: string;
  /** Environment shared by every app instance and the fixture process. */
  appEnv: Record<string, string>;
  app: ServerProcess;
  relay: ServerProcess;
  /** Bare `node:http` answering /health's JSON: the HTTP baseline. */
  bare: ServerProcess;
  fixtures: Child;
  /** Two WebSocket load-generator processes (the machine has 2 cores shared with the server). */
  wsLoad: [Child, Child];
  httpLoad: Child;
  sql: Sql;
  rows: Row[];
  /** Raw figures per scenario, written to the results JSON. */
  raw: Record<string, unknown>;
  /** Extra servers a scenario starts; stopped by run.ts if the scenario fails half-way. */
  extraServers: ServerProcess[];
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Splits a list into `n` interleaved shares (one per generator process). */
export function shares<T>(items: T[], n: number): T[][] {
  const out: T[][] = Array.from({ length: n }, () => []);
  items.forEach((item, i) => out[i % n].push(item));
  return out;
}
