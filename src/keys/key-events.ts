declare module '../realtime/client-events' {
  interface ClientEvents {
    /** To the owner: fewer one-time prekeys are left than the server likes to keep; replenish. */
    'keys:low': { count: number };
  }
}

export {};
