/** cluster-key-slot (ioredis's own slot calculation) ships no types. */
declare module 'cluster-key-slot' {
  /** The Redis Cluster hash slot of a key (CRC16 of its non-empty `{…}` hash tag, else of the key, mod 16384). */
  function generate(key: string | Buffer): number;
  export = generate;
}
